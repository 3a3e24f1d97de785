// Built by renderer_patch/build.mjs from renderer_patch/src; do not edit.
(() => {
"use strict";
// --- errors.js
// A failed WebSocket callback, shown by Dash's renderer as it shows a failed HTTP one.
//
// Dash's renderer (dash-renderer 4.4) shows a failed HTTP callback as "Callback error
// updating <outputs>" (or "Callback error with no output from input <inputs>") above
// the server's answer: in debug mode Dash's traceback page. A failed WebSocket callback
// it shows otherwise: `handleWebsocketCallback` throws `new Error(message)`, so the
// pop-up's title is the bare message, the renderer's own JavaScript stack sits below
// it, and there is no traceback. The renderer's worker client resolves a pending
// request with the message's payload; a payload that is a thenable rejecting with a
// failed HTTP response makes that request fail exactly as a failed `fetch` does, and
// the renderer then titles and renders it itself. The server sends the traceback page
// as `payload.html` in debug mode only; otherwise the body is its generic message.
// An error the worker makes up because no answer can come (`payload.noResponse`) stays
// as it is: the renderer throws it as an `Error`, as it does when a `fetch` gets no
// response ("Callback failed: the server did not respond.").

/** The status of Dash's HTTP answer for a callback that raised. */
const FAILED = 500;

/** What the renderer reads of a failed `fetch` response: its status and its text. */
function failedResponse(body) {
  return { ok: false, status: FAILED, text: () => Promise.resolve(body) };
}

/**
 * `message` as the renderer should get it: an error `callback_response` gets, in place
 * of its payload, a thenable that rejects with a failed HTTP response whose body is the
 * server's traceback page (`payload.html`) or its message. Anything else, and an error
 * marked `noResponse`, is returned as it is. A thenable, not a rejected promise: if no request waits for the answer, it is
 * never adopted and nothing is reported as an unhandled rejection.
 */
function asHttpFailure(message) {
  if (!message || typeof message !== "object" || message.type !== "callback_response") {
    return message;
  }
  const payload = message.payload;
  if (!payload || typeof payload !== "object" || payload.status !== "error" || payload.noResponse === true) {
    return message;
  }
  const body = typeof payload.html === "string" ? payload.html : String(payload.message || "Callback error");
  const failure = failedResponse(body);
  return {
    ...message,
    payload: {
      then(_resolve, reject) {
        reject(failure);
      },
    },
  };
}

/**
 * Make the handler the renderer sets as `port.onmessage` see `asHttpFailure(event.data)`.
 * Installed on the port before the renderer sets its handler; listeners added with
 * `addEventListener` (the page script's own) still see the message as it came.
 * Returns false, changing nothing, when the port has no `onmessage` to wrap.
 */
function deliverErrorsAsHttp(port) {
  let native = null;
  for (let o = port; o && !native; o = Object.getPrototypeOf(o)) {
    native = Object.getOwnPropertyDescriptor(o, "onmessage") || null;
  }
  if (!native || typeof native.set !== "function") return false;
  let handler = null;
  Object.defineProperty(port, "onmessage", {
    configurable: true,
    enumerable: true,
    get() {
      return handler;
    },
    set(fn) {
      handler = fn;
      const wrapped = typeof fn === "function"
        ? function onmessage(event) {
          const data = asHttpFailure(event.data);
          return fn.call(this, data === event.data ? event : { type: event.type, data, target: event.target });
        }
        : fn;
      native.set.call(port, wrapped);
    },
  });
  return true;
}

// --- handover.js
// Cookies and headers a WebSocket callback set (Dash's ctx.response.set_cookie, ...).
// A socket frame carries no headers, so the server keeps them and puts a one-time token
// in the callback's response ("quartdash_handover"). Before Dash's renderer sees that
// response, this redeems the token with a same-origin POST whose answer carries the
// headers (Set-Cookie among them): the cookie is in the browser's jar before the
// callback's outputs reach the page, as over HTTP. Messages that arrive meanwhile wait
// behind it, so nothing overtakes anything. (Server side: quartdash/transport/handover.py.)

/** The field of a callback_response that holds the token. */
const HANDOVER_FIELD = "quartdash_handover";
/** How long one redeem may take before the response is let through without it. */
const REDEEM_TIMEOUT = 10000;

/** The token a worker message carries, or null. */
function tokenOf(message) {
  if (!message || typeof message !== "object" || message.type !== "callback_response") return null;
  const token = message[HANDOVER_FIELD];
  return typeof token === "string" && token.length > 0 && token.length <= 100 ? token : null;
}

/** POST the token to `url`; resolves (never rejects) once the answer is in. */
const redeem = async (url, token, fetchImpl = null, log = console) => {
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), REDEEM_TIMEOUT) : null;
  try {
    // The page's fetch as it is now: an app may wrap it (to add a header, say).
    const response = await (fetchImpl || fetch)(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      signal: controller ? controller.signal : undefined,
    });
    if (response.status !== 204) {
      log.warn(`[quartdash] the cookies and headers of a callback were not taken: HTTP ${response.status}`);
    }
  } catch (err) {
    log.warn("[quartdash] the cookies and headers of a callback were not taken:", err);
  } finally {
    if (timer) clearTimeout(timer);
  }
};

/**
 * Put a gate on `port` (a MessagePort), ahead of every other listener: a message with a
 * token is held, with all that follows it, until the token is redeemed; then each is
 * dispatched again on the port, in order, for the other listeners (the renderer's).
 * Must be called before anyone else listens on the port.
 */
function gatePort(port, url, fetchImpl = null, log = console) {
  if (!url) return;
  const queue = []; // {data, token}
  const replayed = new WeakSet();
  let draining = false;

  async function drain() {
    draining = true;
    try {
      while (queue.length) {
        const { data, token } = queue.shift();
        if (token) await redeem(url, token, fetchImpl, log);
        const event = new MessageEvent("message", { data });
        replayed.add(event);
        port.dispatchEvent(event);
      }
    } finally {
      draining = false;
    }
  }

  port.addEventListener("message", (event) => {
    if (replayed.has(event)) return;
    const token = tokenOf(event.data);
    if (!draining && !token) return;
    event.stopImmediatePropagation();
    queue.push({ data: event.data, token });
    if (!draining) drain();
  });
}

// --- policy.js
// What the browser does after its socket closes, per close code (the README's "The browser side" and `quartdash.CloseCode`).
// Pure: no timers, no sockets, no DOM, so every rule is tested under Node.

/** Version of quartdash's additions to Dash's protocol (quartdash/transport/protocol.py). */
const PROTOCOL_VERSION = 1;

/** The close codes the server sends: exactly `quartdash.CloseCode`, names and values
 *  (test/policy.test.js reads quartdash/transport/protocol.py to check it). */
const ServerCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  INACTIVITY: 4001,
  SESSION_ENDED: 4401,
  SESSION_EXPIRED: 4408,
  RATE_LIMITED: 4429,
});

/** The close codes the worker tells apart: the server's, and those it meets without
 *  the server choosing them: a close with no code (1005) or no close frame at all
 *  (1006), a restart by another server (1012), and its own heartbeat timeout (4000). */
const Code = Object.freeze({
  ...ServerCode,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  SERVICE_RESTART: 1012,
  HEARTBEAT_TIMEOUT: 4000,
});

const DEFAULT_POLICY = Object.freeze({
  /** First delay after a drop or a restart, doubled per failed attempt up to maxDelay. */
  initialDelay: 1000,
  maxDelay: 30000,
  /** After 4429 the server asked us to slow down: start high, stay high. */
  rateLimitedDelay: 15000,
  rateLimitedMaxDelay: 120000,
  /** A socket that stayed open this long resets the attempt count: a server that
   *  accepts and at once closes again must not be hammered at the first delay. */
  stableAfter: 5000,
  /** After 1001 (a worker stopping: a deploy) the first retry comes at a uniformly random
   *  moment in [goingAwayMinDelay, goingAwayMaxDelay]: whatever the server does (all at
   *  once or drained over drain_seconds), no interval of t ms sees more than
   *  t / (max - min) of that worker's pages come back (3.6 % per 100 ms). The maximum
   *  stays under CALLBACK_WAIT (socket.js, 5 s): a callback the user fires just after
   *  the 1001 is still served once the socket is back. */
  goingAwayMinDelay: 250,
  goingAwayMaxDelay: 3000,
});

/**
 * The delay before attempt number `attempt` (0 for the first retry): exponential with
 * "equal jitter", half fixed and half random, so tabs of many browsers that lost the
 * same server do not come back in one wave, and none retries at once.
 */
function backoff(attempt, base, cap, random = Math.random) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The delay after a 1001 (the server is stopping, most often a deploy; 1012 from
 * another server means the same): uniform over
 * [goingAwayMinDelay, goingAwayMaxDelay], so the pages of a stopping worker spread their
 * reconnects over that window instead of landing on the other workers in one wave. A
 * 1001 after failed attempts (the page met a second stopping worker) waits at least the
 * usual backoff too.
 */
function goingAwayDelay(attempt, policy = DEFAULT_POLICY, random = Math.random) {
  const low = policy.goingAwayMinDelay;
  const spread = Math.round(low + random() * Math.max(0, policy.goingAwayMaxDelay - low));
  if (attempt <= 0) return spread;
  return Math.max(spread, backoff(attempt, policy.initialDelay, policy.maxDelay, random));
}

/**
 * The decision after a close with `code`:
 *  - {action: "idle"}: the page's own close or Dash's inactivity close; reconnect on
 *    the next message the page sends (Dash's behaviour for 1000 and 4001);
 *  - {action: "retry", delay}: reconnect by itself after `delay` ms;
 *  - {action: "final", kind}: never reconnect; kind "session" (signed out or expired:
 *    the page shows a notice and goes to login_url) or "refused" (the server refused
 *    this page's traffic: retrying would be refused again).
 */
function afterClose(code, attempt, policy = DEFAULT_POLICY, random = Math.random) {
  switch (code) {
    case Code.NORMAL:
    case Code.INACTIVITY:
      return { action: "idle" };
    case Code.SESSION_ENDED:
    case Code.SESSION_EXPIRED:
      return { action: "final", kind: "session" };
    case Code.UNSUPPORTED_DATA:
    case Code.POLICY_VIOLATION:
    case Code.MESSAGE_TOO_BIG:
      return { action: "final", kind: "refused" };
    case Code.GOING_AWAY:
    case Code.SERVICE_RESTART:
      return { action: "retry", delay: goingAwayDelay(attempt, policy, random) };
    case Code.RATE_LIMITED:
      return {
        action: "retry",
        delay: backoff(attempt, policy.rateLimitedDelay, policy.rateLimitedMaxDelay, random),
      };
    default: // 1011, 1013, 4000, and drops without a close frame (1005, 1006)
      return {
        action: "retry",
        delay: backoff(attempt, policy.initialDelay, policy.maxDelay, random),
      };
  }
}

/**
 * The code that counts: a close frame can be lost (a proxy, a dropped connection) and
 * arrive as 1005/1006, so the reason the server announced just before closing
 * (a "quartdash_close" message) wins over a close without a status.
 */
function effectiveClose(event, announced) {
  const lost = event.code === Code.ABNORMAL || event.code === Code.NO_STATUS;
  if (announced && (lost || announced.code === event.code)) {
    return { code: announced.code, reason: announced.reason || event.reason || "" };
  }
  return { code: event.code, reason: event.reason || "" };
}

/**
 * The reasons of a 4401 that mean something else than "signed out" (quartdash/transport/protocol.py).
 * 4401 closes every socket that must not come back by itself, so the code alone cannot
 * say whether the login still holds; the reason can.
 */
const Reason = Object.freeze({
  /** An administrator closed this socket (or everyone's): the login is still valid. */
  CONNECTION_CLOSED: "connection closed by an administrator",
  /** An administrator ended (and revoked) this session. */
  SIGNED_OUT: "signed out by an administrator",
  /** The handshake carried no valid login: this page was never signed in, or no more. */
  NOT_LOGGED_IN: "not logged in",
});

/** The administrator's own words after `kind` ("kind: words"); null when `reason` is
 *  not of that kind, "" when it is but has no words. */
function adminWords(reason, kind) {
  if (reason === kind) return "";
  return reason.startsWith(`${kind}: `) ? reason.slice(kind.length + 2).trim() : null;
}

/**
 * What the page says after a final close, and what it offers:
 *  - signIn: the login is gone (signed out, expired, or never there): a "Sign in" link,
 *    and the tab goes to login_url;
 *  - reload: the login still holds (an administrator closed only the connection): a
 *    "Reload" link, and the tab stays where it is, since a reload is signed in again.
 * `link` is the link's words, null for none.
 */
function closeNotice(code, reason) {
  const text = typeof reason === "string" ? reason : "";
  if (code === Code.SESSION_EXPIRED) {
    return { text: "Your session expired.", signIn: true, link: "Sign in again" };
  }
  if (code === Code.SESSION_ENDED) {
    const closed = adminWords(text, Reason.CONNECTION_CLOSED);
    if (closed !== null) {
      const why = closed ? ` (${closed})` : "";
      return {
        text: `The administrator closed this connection${why}. Reload the page to continue.`,
        signIn: false, link: "Reload",
      };
    }
    if (text === Reason.NOT_LOGGED_IN) return { text: "Please sign in.", signIn: true, link: "Sign in" };
    const ended = adminWords(text, Reason.SIGNED_OUT);
    if (ended !== null) {
      const why = ended ? ` (${ended})` : "";
      return { text: `The administrator signed you out${why}.`, signIn: true, link: "Sign in again" };
    }
    return { text: "You were signed out.", signIn: true, link: "Sign in again" };
  }
  const why = text ? `: ${text}` : "";
  return {
    text: `The server closed the connection (${code}${why}). Reload the page to continue.`,
    signIn: false, link: "Reload",
  };
}

/** The words the page shows for a final close. */
function noticeText(code, reason) {
  return closeNotice(code, reason).text;
}

// --- page.js
// quartdash's page script: runs in each tab before Dash's renderer starts.
//  - window.quartdash.on(event, handler): the event channel. Every event the server
//    emits for this tab (ctx.websocket.emit) reaches the handlers, in order, one call
//    per event; events that come before any handler is attached wait for the first.
//  - When the socket closes for good, a notice says why: when the login is gone
//    (signed out, expired, never signed in) the tab goes to login_url, if set; when an
//    administrator closed only the connection, or the server refused the page's
//    traffic, it stays and offers a reload. The notice covers none of the page.
//  - A callback that failed over the socket shows in Dash's error pop-up as one that
//    failed over HTTP: same title, and in debug mode the same traceback (errors.js).
// It listens on the renderer's own port to the worker: it wraps the SharedWorker
// constructor so it sees the port Dash's renderer opens, and adds a listener beside
// the renderer's. The renderer ignores the message types it does not know.


/** Events kept while no handler listens for them; beyond this the oldest go. */
const MAX_WAITING = 10000;
/** How long the signed-out notice shows before the tab goes to login_url. */
const REDIRECT_DELAY = 1500;

function readConfig() {
  const element = document.getElementById("_dash-config");
  try {
    return element ? JSON.parse(element.textContent) : {};
  } catch (err) {
    return {};
  }
}

const config = readConfig();
const loginUrl = (config.quartdash && config.quartdash.login_url) || null;
const workerUrl = (config.websocket && config.websocket.worker_url) || null;

const handlers = new Map(); // event -> Set of functions
const waiting = []; // [event, data] with no handler yet
const closes = []; // every close this tab heard of, newest last

function dispatch(event, data) {
  const set = handlers.get(event);
  if (!set || set.size === 0) {
    waiting.push([event, data]);
    if (waiting.length > MAX_WAITING) waiting.shift();
    return;
  }
  for (const handler of Array.from(set)) {
    try {
      handler(data, event);
    } catch (err) {
      console.error(`[quartdash] handler for "${event}" failed`, err);
    }
  }
}

function on(event, handler) {
  if (typeof handler !== "function") throw new TypeError("quartdash.on needs a function");
  if (!handlers.has(event)) handlers.set(event, new Set());
  const set = handlers.get(event);
  const first = set.size === 0;
  set.add(handler);
  if (first) {
    // Hand over what waited for this event, in order, keeping the rest waiting.
    const mine = [];
    for (let i = 0; i < waiting.length; ) {
      if (waiting[i][0] === event) mine.push(waiting.splice(i, 1)[0]);
      else i += 1;
    }
    for (const [, data] of mine) dispatch(event, data);
  }
  return () => off(event, handler);
}

function off(event, handler) {
  const set = handlers.get(event);
  if (set) set.delete(handler);
}

// --- the notice ------------------------------------------------------------------------
const BARS = ["quartdash-notice", "quartdash-reconnecting"];
/** The body's own inline padding-top while a bar shows (null: none shows). */
let paddingBefore = null;
let sizeWatch = null;

/**
 * The bars are fixed at the top, so that they stay in view when the page scrolls; while
 * one shows, the body's top padding grows by its height, so that it covers none of the
 * page's content, and shrinks back when it goes. Called again whenever a bar's height
 * changes (its text wraps on a narrow window).
 */
function reserveSpace() {
  const body = document.body;
  const shown = BARS.map((id) => document.getElementById(id)).filter(Boolean);
  if (shown.length === 0) {
    if (paddingBefore !== null) body.style.paddingTop = paddingBefore;
    paddingBefore = null;
    return;
  }
  if (paddingBefore === null) paddingBefore = body.style.paddingTop;
  body.style.paddingTop = paddingBefore; // the page's own padding, measured bare
  const own = parseFloat(getComputedStyle(body).paddingTop) || 0;
  const height = Math.max(...shown.map((bar) => bar.getBoundingClientRect().height));
  body.style.paddingTop = `${own + height}px`;
}

function banner(id, text, colors) {
  let element = document.getElementById(id);
  if (!element) {
    element = document.createElement("div");
    element.id = id;
    element.setAttribute("role", "alert");
    Object.assign(element.style, {
      position: "fixed", top: "0", left: "0", right: "0", zIndex: "2147483647",
      padding: "14px 20px", font: "15px/1.4 system-ui, sans-serif", textAlign: "center",
      boxShadow: "0 2px 8px rgba(0,0,0,.25)", boxSizing: "border-box",
    });
    document.body.appendChild(element);
    if (!sizeWatch && typeof ResizeObserver === "function") sizeWatch = new ResizeObserver(reserveSpace);
    if (sizeWatch) sizeWatch.observe(element);
  }
  Object.assign(element.style, colors);
  element.textContent = text;
  reserveSpace();
  return element;
}

function hide(id) {
  const element = document.getElementById(id);
  if (!element) return;
  if (sizeWatch) sizeWatch.unobserve(element);
  element.remove();
  reserveSpace();
}

function showFinal(close) {
  hide("quartdash-reconnecting");
  const notice = closeNotice(close.code, close.reason);
  const element = banner("quartdash-notice", notice.text, { background: "#b3261e", color: "#fff" });
  element.dataset.code = String(close.code);
  const target = notice.signIn ? loginUrl : window.location.href;
  if (notice.link && target) {
    const link = document.createElement("a");
    link.href = target;
    link.textContent = notice.link;
    Object.assign(link.style, { color: "#fff", marginLeft: "12px", fontWeight: "600" });
    element.appendChild(link);
  }
  reserveSpace();
  // Only a tab whose login is gone goes to the login page; one whose connection alone
  // was closed stays, its notice saying so.
  if (notice.signIn && loginUrl) setTimeout(() => window.location.assign(loginUrl), REDIRECT_DELAY);
}

function onStatus(message) {
  api.status = {
    state: message.state, code: message.code, reason: message.reason,
    final: message.action === "final", resumed: message.resumed === true,
  };
  if (message.state === "open") {
    hide("quartdash-reconnecting");
    return;
  }
  closes.push({
    code: message.code, reason: message.reason, action: message.action,
    resumable: message.resumable === true, at: Date.now(),
  });
  if (message.action === "final") showFinal(message);
  else if (message.action === "retry") {
    banner("quartdash-reconnecting", "Connection lost. Reconnecting\u2026", { background: "#fff4ce", color: "#3b2f00" });
  }
}

function onWorkerMessage(event) {
  const message = event.data;
  if (!message || typeof message !== "object" || !(message.v <= PROTOCOL_VERSION)) return;
  if (message.type === "quartdash_event" && message.payload) dispatch(message.payload.event, message.payload.data);
  else if (message.type === "quartdash_status") onStatus(message);
}

// --- seeing the renderer's port ----------------------------------------------------------
function sameScript(url) {
  if (!workerUrl) return false;
  try {
    const a = new URL(String(url), document.baseURI);
    const b = new URL(workerUrl, document.baseURI);
    return a.origin === b.origin && a.pathname === b.pathname;
  } catch (err) {
    return false;
  }
}

/**
 * When this document goes for good (a closed tab or window, a reload, a navigation the
 * browser does not cache), tell the worker, as Dash's renderer does when it unmounts
 * (which a closing tab never does): "disconnect" on the renderer's port. When it was
 * the last tab, the worker then says goodbye to the server (quartdash_bye) and closes
 * with 1000 while it still can: the browser ends a SharedWorker whose last document is
 * gone, and its socket with it, with no close frame, which the server could not tell
 * from a network failure (it logged a drop and kept the connection for a resume no
 * one would ask for). A page kept in the back/forward cache (`persisted`) may come
 * back, so it stays connected.
 */
function leaveWhenGone(port) {
  window.addEventListener("pagehide", (event) => {
    if (!event.persisted) port.postMessage({ type: "disconnect" });
  });
}

const NativeSharedWorker = window.SharedWorker;
if (typeof NativeSharedWorker === "function") {
  window.SharedWorker = class extends NativeSharedWorker {
    constructor(url, options) {
      super(url, options);
      if (sameScript(url)) {
        // First on the port: holds a callback's response until its cookies are set.
        gatePort(this.port, config.quartdash && config.quartdash.handover_url);
        this.port.addEventListener("message", onWorkerMessage);
        deliverErrorsAsHttp(this.port);
        leaveWhenGone(this.port);
      }
    }
  };
}

const api = {
  version: PROTOCOL_VERSION,
  on,
  off,
  /** The socket's latest state as this tab last heard it. */
  status: { state: "connecting" },
  /** Every close this tab heard of: {code, reason, action, at}. */
  closes,
  loginUrl,
};
window.quartdash = api;
})();
