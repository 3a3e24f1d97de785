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

import { deliverErrorsAsHttp } from "./errors.js";
import { gatePort } from "./handover.js";
import { closeNotice, PROTOCOL_VERSION } from "./policy.js";

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
