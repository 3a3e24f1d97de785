// quartdash's live admin page: renders the snapshots its WebSocket sends (one a
// second), and closes a connection, a session or a user through the admin API.
// Every string shown is a client's choice (user names, origins, topics): it is
// written with textContent, never parsed as HTML.
(function () {
  "use strict";

  var SPARK_POINTS = 60;
  var byId = function (id) { return document.getElementById(id); };
  var offset = 0;  // this clock minus the server's, from the last snapshot
  var retry = 1000;
  var rows = new Map();  // connection id -> its <tr>
  var history = { callbacks: [], frames: [], closes: [] };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function age(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function since(openedAt) {
    return age(Date.now() / 1000 - offset - openedAt);
  }

  function rate(value) {
    if (value === null || value === undefined) return "–";
    return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  }

  function setStatus(state, text) {
    byId("status").dataset.state = state;
    byId("status-text").textContent = text;
  }

  var toastTimer = null;
  function toast(text, error) {
    var box = byId("toast");
    box.textContent = text;
    box.className = error ? "toast error" : "toast";
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 4000);
  }

  function button(label, kind, target, danger) {
    var b = el("button", danger ? "danger" : "", label);
    b.type = "button";
    b.dataset.kind = kind;
    b.dataset.target = target;
    return b;
  }

  function cell(row, className, text) {
    var td = el("td", className, text === null || text === undefined ? "–" : text);
    if (text === null || text === undefined) td.classList.add("none");
    row.appendChild(td);
    return td;
  }

  function setText(td, text) {
    var shown = text === null || text === undefined ? "–" : String(text);
    if (td.textContent !== shown) td.textContent = shown;
    td.classList.toggle("none", text === null || text === undefined);
  }

  function topicChips(td, topics) {
    var key = topics.join("\u0000");
    if (td.dataset.key === key) return;
    td.dataset.key = key;
    td.replaceChildren();
    if (!topics.length) { td.textContent = "–"; td.classList.add("none"); return; }
    td.classList.remove("none");
    topics.forEach(function (topic) { td.appendChild(el("span", "chip", topic)); });
    td.title = topics.join(", ");
  }

  // --- connections: rows kept by id, so a button is never replaced under the pointer --
  function connectionRow(info) {
    var tr = el("tr");
    tr.dataset.id = info.id;
    cell(tr, "user", info.user);
    cell(tr, "mono", info.origin);
    cell(tr, "mono", info.worker);
    cell(tr, "num", "");
    cell(tr, "num", "");
    cell(tr, "", "");
    var actions = el("td", "actions");
    actions.appendChild(button("Close", "connection", info.id, false));
    if (info.session) actions.appendChild(button("End session", "session", info.session, true));
    if (info.user) actions.appendChild(button("End user", "user", info.user, true));
    tr.appendChild(actions);
    return tr;
  }

  function renderConnections(list) {
    var body = byId("connections").tBodies[0];
    var seen = new Set();
    list.forEach(function (info, index) {
      seen.add(info.id);
      var tr = rows.get(info.id);
      if (!tr) { tr = connectionRow(info); rows.set(info.id, tr); }
      var cells = tr.cells;
      setText(cells[3], since(info.opened_at));
      setText(cells[4], info.callbacks_running);
      cells[4].classList.toggle("busy", info.callbacks_running > 0);
      topicChips(cells[5], info.topics);
      tr.dataset.search = [info.user, info.origin, info.worker, info.topics.join(" ")]
        .join(" ").toLowerCase();
      if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
    });
    rows.forEach(function (tr, id) {
      if (!seen.has(id)) { tr.remove(); rows.delete(id); }
    });
    applyFilter();
    byId("empty-connections").hidden = list.length > 0;
  }

  function applyFilter() {
    var needle = byId("filter").value.trim().toLowerCase();
    rows.forEach(function (tr) {
      tr.hidden = needle !== "" && tr.dataset.search.indexOf(needle) < 0;
    });
  }

  function renderTable(id, list, build) {
    var body = byId(id).tBodies[0];
    var fresh = list.map(build);
    body.replaceChildren.apply(body, fresh);
    byId("empty-" + id).hidden = list.length > 0;
  }

  function sessionRow(entry) {
    var tr = el("tr");
    cell(tr, "user", entry.user);
    cell(tr, "mono", entry.session.slice(0, 12)).title = entry.session;
    cell(tr, "num", entry.sockets);
    cell(tr, "num", since(entry.opened_at));
    var actions = el("td", "actions");
    actions.appendChild(button("End session", "session", entry.session, true));
    tr.appendChild(actions);
    return tr;
  }

  function topicRow(entry) {
    var tr = el("tr");
    cell(tr, "mono", entry.topic);
    cell(tr, "num", entry.subscribers);
    cell(tr, "", entry.users.length ? entry.users.join(", ") : null);
    return tr;
  }

  // Sessions and topics have no buttons that must survive an update but "End
  // session": rebuilt only when what they show changes.
  var shown = { sessions: "", topics: "" };
  function renderIfChanged(id, list, build) {
    var key = JSON.stringify(list.map(function (e) { return [e.session || e.topic, e.sockets || e.subscribers, e.users || e.user]; }));
    if (key === shown[id]) {
      if (id === "sessions") {
        Array.prototype.forEach.call(byId(id).tBodies[0].rows, function (tr, i) {
          setText(tr.cells[3], since(list[i].opened_at));
        });
      }
      return;
    }
    shown[id] = key;
    renderTable(id, list, build);
  }

  function renderRates(data) {
    var off = byId("metrics-off");
    off.hidden = !data.metrics_off;
    off.textContent = data.metrics_off || "";
    document.querySelectorAll(".rate").forEach(function (card) { card.hidden = !!data.metrics_off; });
    if (data.metrics_off) return;
    Object.keys(history).forEach(function (name) {
      var value = data.rates ? data.rates[name] : null;
      byId("rate-" + name).textContent = rate(value);
      if (value === null || value === undefined) return;
      var points = history[name];
      points.push(value);
      if (points.length > SPARK_POINTS) points.shift();
      var top = Math.max.apply(null, points.concat([1]));
      var line = document.querySelector('.rate[data-rate="' + name + '"] polyline');
      line.setAttribute("points", points.map(function (v, i) {
        var x = (i * 120) / Math.max(points.length - 1, 1);  // fills the card from the start
        var y = 26 - (v / top) * 24;
        return x.toFixed(1) + "," + y.toFixed(1);
      }).join(" "));
    });
  }

  function render(data) {
    offset = Date.now() / 1000 - data.now;
    Object.keys(data.counts).forEach(function (name) {
      var node = byId("count-" + name);
      if (node) node.textContent = String(data.counts[name]);
    });
    renderRates(data);
    renderConnections(data.connections);
    var more = byId("more-connections");
    var hiddenCount = data.counts.connections - data.connections.length;
    more.hidden = hiddenCount <= 0;
    more.textContent = hiddenCount > 0 ? "the oldest " + data.connections.length + " of " + data.counts.connections : "";
    renderIfChanged("sessions", data.sessions, sessionRow);
    renderIfChanged("topics", data.topics, topicRow);
    byId("updated").textContent = "Updated " + new Date().toLocaleTimeString() + " · live over a WebSocket, about once a second";
  }

  // --- the close buttons: the admin API, same origin, so the cookie and the
  // cross-site check both pass --------------------------------------------------------
  var PATHS = { connection: "connections/", session: "sessions/", user: "users/" };
  var NOUNS = { connection: "connection", session: "session", user: "user" };

  function act(b) {
    var kind = b.dataset.kind;
    var url = new URL(PATHS[kind] + encodeURIComponent(b.dataset.target) + "/close", location.href);
    b.disabled = true;
    fetch(url.href, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: "{}"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          toast("Refused: " + (body.error || response.status), true);
        } else {
          toast("Closed the " + NOUNS[kind] + ": " + body.closed + " socket" + (body.closed === 1 ? "" : "s"), false);
        }
      });
    }).catch(function () {
      toast("The server could not be reached", true);
    }).then(function () { b.disabled = false; });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof HTMLButtonElement && target.dataset.kind) act(target);
  });
  byId("filter").addEventListener("input", applyFilter);

  // --- the socket -------------------------------------------------------------------
  function socketUrl() {
    var url = new URL("live", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    return url.href;
  }

  function connect() {
    var ws = new WebSocket(socketUrl());
    ws.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (err) { return; }
      if (data.type === "hello") {
        retry = 1000;
        byId("sign-out").hidden = data.by !== "sign-in";
        setStatus("live", data.user ? "Live · " + data.user : "Live");
        return;
      }
      if (data.type === "snapshot") render(data);
    };
    ws.onclose = function (event) {
      if (event.code === 4401) {
        setStatus("off", "Signed out: reload to sign in");
        return;
      }
      var why = event.code === 1013 && event.reason ? event.reason : "Disconnected";
      setStatus("off", why + ": retrying in " + Math.round(retry / 1000) + " s");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  connect();
})();
