// Built by renderer_patch/build.mjs from renderer_patch/src; do not edit.
(() => {
"use strict";
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

// --- router.js
// Message routing between the renderers (one per tab) and the one server socket.
// The message shapes are exactly those of Dash's own worker (dash-renderer 4.4), so the
// stock renderer is unchanged; quartdash's own messages start with "quartdash_".


const Msg = Object.freeze({
  // renderer -> worker
  CONNECT: "connect",
  DISCONNECT: "disconnect",
  CALLBACK_REQUEST: "callback_request",
  GET_PROPS_RESPONSE: "get_props_response",
  TAB_VISIBLE: "tab_visible",
  // worker -> renderer
  CONNECTED: "connected",
  DISCONNECTED: "disconnected",
  CALLBACK_RESPONSE: "callback_response",
  SET_PROPS: "set_props",
  SET_PROPS_BATCH: "set_props_batch",
  GET_PROPS_REQUEST: "get_props_request",
  ERROR: "error",
  // server -> worker only
  HEARTBEAT_ACK: "heartbeat_ack",
  // quartdash's additions
  EVENT: "quartdash_event",
  CLOSE: "quartdash_close",
  STATUS: "quartdash_status",
  HELLO: "quartdash_hello",
  WELCOME: "quartdash_welcome",
  ACK: "quartdash_ack",
  BYE: "quartdash_bye",
  LEAVE: "quartdash_leave",
});

/** The words of Dash's renderer when a callback's `fetch` gets no response at all. */
const NO_RESPONSE = "Callback failed: the server did not respond.";

/** The answer to a callback request the worker gave up sending: the page script lets
 *  the renderer throw it as it throws a failed `fetch` (errors.js, `noResponse`). */
function noResponse(rendererId, requestId) {
  return {
    type: Msg.CALLBACK_RESPONSE,
    rendererId,
    requestId,
    payload: { status: "error", message: NO_RESPONSE, noResponse: true },
  };
}

/** True for a quartdash message of a protocol version this worker speaks. */
function isOurs(message, type) {
  return message.type === type && message.v <= PROTOCOL_VERSION;
}

/** The renderer id of a server message meant for every tab of the socket (a push by
 *  user, session, connection or everyone). */
const EVERY_TAB = "";

/**
 * The renderers' ports, by renderer id, and the rules for who gets what.
 * A port that throws on postMessage belongs to a tab that is gone: it is dropped, and
 * `onGone(rendererId)` is told, so that the server can be told too.
 */
class Router {
  constructor(log = console, onGone = () => {}) {
    this.ports = new Map();
    this.log = log;
    this.onGone = onGone;
  }

  add(rendererId, port) {
    this.ports.set(rendererId, port);
  }

  /** Forget a tab; true if it was known (a dropped port is not known twice). */
  remove(rendererId) {
    return this.ports.delete(rendererId);
  }

  get size() {
    return this.ports.size;
  }

  post(rendererId, message) {
    const port = this.ports.get(rendererId);
    if (!port) return false;
    try {
      port.postMessage(message);
      return true;
    } catch (err) {
      this.ports.delete(rendererId);
      this.onGone(rendererId);
      return false;
    }
  }

  broadcast(message) {
    for (const id of Array.from(this.ports.keys())) this.post(id, message);
  }

  /**
   * A renderer's message, as the frame to send to the server, or null when it is not
   * for the server. Only the two kinds the server serves pass, re-built field by field.
   */
  toServer(rendererId, message) {
    if (message.type === Msg.CALLBACK_REQUEST || message.type === Msg.GET_PROPS_RESPONSE) {
      return {
        type: message.type,
        rendererId,
        requestId: message.requestId,
        payload: message.payload,
      };
    }
    this.log.warn(`[quartdash] unknown message type from renderer: ${message.type}`);
    return null;
  }

  /**
   * Deliver what the server sent: one message or an array of them, in order. A run of
   * set_props for one renderer becomes one set_props_batch (one render, as in Dash's
   * worker), but nothing is moved ahead of what came before it, so an event or a
   * callback response is never overtaken. A run for EVERY_TAB goes to each tab under
   * that tab's own renderer id, as if the server had sent it to each.
   */
  fromServer(data) {
    const messages = Array.isArray(data) ? data : [data];
    let run = null; // {rendererId, payloads}
    const flush = () => {
      if (!run) return;
      const ids = run.rendererId === EVERY_TAB ? Array.from(this.ports.keys()) : [run.rendererId];
      for (const id of ids) {
        if (run.payloads.length === 1) {
          this.post(id, { type: Msg.SET_PROPS, rendererId: id, payload: run.payloads[0] });
        } else {
          this.post(id, { type: Msg.SET_PROPS_BATCH, rendererId: id, payload: run.payloads });
        }
      }
      run = null;
    };
    for (const message of messages) {
      if (!message || typeof message !== "object") continue;
      if (message.type === Msg.SET_PROPS) {
        if (run && run.rendererId !== message.rendererId) flush();
        if (!run) run = { rendererId: message.rendererId, payloads: [] };
        run.payloads.push(message.payload);
        continue;
      }
      flush();
      this.deliver(message);
    }
    flush();
  }

  deliver(message) {
    switch (message.type) {
      case Msg.CALLBACK_RESPONSE:
      case Msg.GET_PROPS_REQUEST:
      case Msg.ERROR:
        this.post(message.rendererId, message);
        return;
      case Msg.HEARTBEAT_ACK:
      case Msg.WELCOME:
      case Msg.CLOSE: // the socket's business, handled before routing
        return;
      case Msg.EVENT:
        if (!isOurs(message, Msg.EVENT)) return;
        if (message.rendererId) this.post(message.rendererId, message);
        else this.broadcast(message);
        return;
      default:
        this.log.warn(`[quartdash] unknown message type from server: ${message.type}`);
    }
  }
}

// --- socket.js
// The one WebSocket a worker holds: connect, heartbeat, idle close, and reconnect as
// the close code says (policy.js). Same timings and heartbeat as Dash's worker.
//
// Resume: the server welcomes each socket with a token. When the socket drops without
// a close from the server, the reconnect presents that token and the count of frames
// received in its first frame (quartdash_hello; never in the URL, which proxies log),
// within the server's grace window; the server then sends what was missed
// and the tabs never learn of the drop (their callbacks keep running). If the resume
// is refused or the window passes, the tabs are told "disconnected" as before, and
// their persistent callbacks restart.
//
// A tab that leaves while the socket stays is told to the server (quartdash_leave), so
// that it ends what belonged to that tab. The leave is about the connection it was
// sent for: queued while the socket is down, it goes out on a resume, in order with the
// rest, and is dropped when the next socket is a fresh connection, which never knew
// that tab.
//
// A callback request that finds no welcomed socket waits in the queue, but only for
// CALLBACK_WAIT: then the worker answers it as Dash's renderer answers a `fetch` that got
// no response, and it is never sent. The reconnect backoff is not cut short for it.


/** Messages kept while the socket is down; beyond this the oldest are dropped. */
const MAX_QUEUED = 1000;
/** How often the count of received frames is acknowledged (the server then forgets them). */
const ACK_INTERVAL = 1000;
/**
 * How long (ms) a callback request waits for a welcomed socket before the worker answers
 * it "the server did not respond" (onUnanswered) and drops it from the queue.
 * Why 5 s: long enough for what is not an outage. The backoff's first retry comes 0.5-1 s
 * after a drop and the second 1.5-3 s after it, so a network drop (resumed at the first
 * retry) and a server that is back within 1.5 s of going (a graceful restart behind a
 * proxy, a rolling deploy) are always in time, and one back within 3 s mostly is.
 * Short enough for what is one: over HTTP Dash reports a dead server at once, a user
 * does not wait much longer than this for a click, and Dash's own test of it
 * (test_dvhr001_hot_reload) waits 10 s (dash.testing's default) for the pop-up, which
 * leaves half of that to a loaded machine.
 */
const CALLBACK_WAIT = 5000;

/** The socket's first frame, as the server parses it (protocol.parse_hello): the
 *  resume token held (null: a fresh connection) and the frames received under it. */
function helloMessage(token, received) {
  return JSON.stringify({
    type: Msg.HELLO,
    v: PROTOCOL_VERSION,
    resume: token,
    received: token === null ? 0 : received,
  });
}

class ServerSocket {
  constructor({
    onOpen, onMessage, onClose, onResumeLost, onUnanswered = () => {},
    policy = DEFAULT_POLICY, callbackWait = CALLBACK_WAIT, log = console,
  }) {
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.onResumeLost = onResumeLost;
    /** Told {rendererId, requestId} of each callback request given up unsent. */
    this.onUnanswered = onUnanswered;
    this.callbackWait = callbackWait;
    /** The server's resume token, its grace window (ms), frames received and acknowledged. */
    this.resume = null;
    this.frames = 0;
    this.acked = 0;
    this.attempting = false;
    /** The first frame of the socket being opened: it says whether it resumes one. */
    this.hello = null;
    this.welcomed = false;
    this.resumeTimer = null;
    this.ackTimer = null;
    this.policy = policy;
    this.log = log;
    this.config = { heartbeatInterval: 30000, heartbeatTimeout: 10000, inactivityTimeout: 300000 };
    this.url = null;
    this.ws = null;
    this.connecting = false;
    /** Set after a final close (signed out, refused): nothing reconnects by itself. */
    this.final = null;
    this.attempt = 0;
    this.openedAt = 0;
    /** What waits for a welcomed socket, oldest first: {text, request, resumeOnly}, where
     *  `request` is {rendererId, requestId, deadline} for a callback request and null
     *  otherwise, and `resumeOnly` marks a frame for the connection it was queued under
     *  (a leave): a fresh connection drops it. */
    this.queue = [];
    /** Set while a queued callback request waits: it fires at the first one's deadline. */
    this.expiryTimer = null;
    this.announced = null;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.heartbeatDeadline = null;
    this.lastActivity = Date.now();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  setConfig(config) {
    Object.assign(this.config, config);
  }

  /** A page connected and needs the socket: open it to `url` now, unless it is open or
   *  opening. A retry waiting out its backoff is cut short: the backoff paces the
   *  worker's own retries, and must not hold up a page that just loaded. That wait is
   *  most often no fault at all: Chromium keeps a page that is left in its back/forward
   *  cache, so the worker lives on into the next page, and the socket is dropped as the
   *  page goes (a 1006 like any network drop). Each page load thus costs a server that
   *  is down one handshake, and no more: the attempt count is kept, so if this attempt
   *  fails the retries go on from where they were.
   *  A new page after a final close tries once more: it may have a new login, or the
   *  server a new mind. */
  connect(url) {
    this.url = url;
    if (this.final) {
      this.final = null;
      this.attempt = 0;
    }
    if (this.isOpen || this.connecting) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.open();
  }

  /** The last page left: close cleanly and forget everything. */
  disconnect() {
    this.stopTimers();
    this.forgetResume();
    this.url = null;
    this.setQueue([]); // no page is left to answer
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN) this.sayBye(ws);
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        ws.close(Code.NORMAL, "Client disconnect");
      }
    }
    this.connecting = false;
  }

  /** Before closing on purpose: the server need not keep the connection for a resume. */
  sayBye(ws) {
    ws.send(JSON.stringify({ type: Msg.BYE, v: PROTOCOL_VERSION }));
  }

  /**
   * The tab of `rendererId` is gone and the socket stays: tell the server, which ends
   * that tab's subscriptions and persistent callbacks. Its callback requests still
   * queued go (nobody is left to answer). While no socket is welcomed the leave waits
   * in the queue behind what that tab sent before it, for a resume only: a fresh
   * connection never knew the tab, and a leave is no reason to open a socket.
   */
  leave(rendererId) {
    this.dropRequests(new Set([rendererId]));
    const text = JSON.stringify({ type: Msg.LEAVE, v: PROTOCOL_VERSION, rendererId });
    // A queue not empty on a welcomed socket is being sent (welcome): go behind it.
    if (this.isOpen && this.welcomed && this.queue.length === 0) {
      this.ws.send(text);
      return;
    }
    if (this.final) return; // the connection is over: nothing to end
    this.queue.push({ text, request: null, resumeOnly: true });
    if (this.queue.length > MAX_QUEUED) this.unanswered([this.queue.shift()]);
  }

  forgetResume() {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.resume = null;
    this.frames = 0;
    this.acked = 0;
  }

  send(message) {
    if (message.type !== "heartbeat") this.lastActivity = Date.now();
    const text = JSON.stringify(message);
    if (this.isOpen && this.welcomed) {
      this.ws.send(text);
      return;
    }
    if (this.final) return; // nobody will carry it
    const request = message.type === Msg.CALLBACK_REQUEST
      ? { rendererId: message.rendererId, requestId: message.requestId, deadline: now() + this.callbackWait }
      : null;
    this.queue.push({ text, request, resumeOnly: false });
    if (this.queue.length > MAX_QUEUED) this.unanswered([this.queue.shift()]);
    if (request && !this.expiryTimer) this.scheduleExpiry();
    if (this.isOpen) return; // open, waiting for the welcome: it sends the queue
    // Dash's idle close (4001) reconnects on the next use; a pending retry keeps its delay.
    if (this.url && !this.connecting && !this.retryTimer) this.open();
  }

  /** Replace the queue (emptied, or what is left of it) and its expiry timer. */
  setQueue(queue) {
    this.queue = queue;
    this.scheduleExpiry();
  }

  /** Arm the expiry timer for the first queued callback request (their deadlines are in
   *  queue order), or disarm it when there is none. */
  scheduleExpiry() {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const first = this.queue.find((entry) => entry.request !== null);
    if (!first) return;
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(0, first.request.deadline - now()));
  }

  /** The queued callback requests whose wait is over: out of the queue, never to be sent
   *  (an answer after the page was told there is none would reach nobody), and answered. */
  expire() {
    this.expiryTimer = null;
    const at = now();
    const isOver = (entry) => entry.request !== null && entry.request.deadline <= at;
    const over = this.queue.filter(isOver);
    this.setQueue(over.length ? this.queue.filter((entry) => !isOver(entry)) : this.queue);
    this.unanswered(over);
  }

  /** Drop the queued callback requests of the renderers in `rendererIds` (a Set): they
   *  were told to give every request up ("disconnected"), so an answer would reach nobody. */
  dropRequests(rendererIds) {
    this.setQueue(this.queue.filter((entry) => entry.request === null || !rendererIds.has(entry.request.rendererId)));
  }

  unanswered(entries) {
    for (const { request } of entries) {
      if (request) this.onUnanswered({ rendererId: request.rendererId, requestId: request.requestId });
    }
  }

  resetActivity() {
    this.lastActivity = Date.now();
  }

  /** The URL to open: it asks for resumable connections. Whether this socket resumes
   *  one goes in its first frame (`hello`), decided now, as the socket is opened. */
  socketUrl() {
    const url = new URL(this.url, self.location.href);
    url.searchParams.set("quartdash", "1");
    this.attempting = this.resume !== null;
    this.hello = helloMessage(this.attempting ? this.resume.token : null, this.frames);
    return url.href;
  }

  open() {
    this.connecting = true;
    this.announced = null;
    this.welcomed = false;
    let ws;
    let hello;
    try {
      ws = new WebSocket(this.socketUrl());
      hello = this.hello;
    } catch (err) {
      this.connecting = false;
      this.closed({ code: Code.ABNORMAL, reason: String(err) });
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(hello); // the server reads nothing else before it
      this.connecting = false;
      this.openedAt = Date.now();
      this.lastActivity = Date.now();
      this.startHeartbeat();
      // The queue waits for the welcome: it says whether this socket resumed the old one.
    };
    ws.onmessage = (event) => this.received(event.data);
    ws.onerror = () => {}; // a close event always follows, with the code
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connecting = false;
      this.closed(effectiveClose(event, this.announced));
    };
  }

  received(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      this.log.warn("[quartdash] the server sent a frame that is not JSON");
      return;
    }
    const messages = Array.isArray(data) ? data : [data];
    if (messages.length === 1 && messages[0] && isOurs(messages[0], Msg.WELCOME)) {
      this.welcome(messages[0]);
      return;
    }
    let other = false;
    let counted = true;
    for (const message of messages) {
      if (!message || typeof message !== "object") continue;
      if (message.type === Msg.HEARTBEAT_ACK) this.clearHeartbeatDeadline();
      else if (isOurs(message, Msg.CLOSE)) {
        this.announced = { code: message.code, reason: message.reason };
        counted = false; // sent outside the numbered stream
      } else other = true;
    }
    if (counted) this.frames += 1;
    if (other) {
      this.lastActivity = Date.now();
      this.onMessage(data);
    }
  }

  /** The server's first message on every socket. */
  welcome(message) {
    const attempted = this.attempting;
    const resumed = attempted && message.resumed === true;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    if (!resumed) {
      this.frames = 0;
      this.acked = 0;
      // After a refused resume the tabs are told to give up what they sent; otherwise
      // only what was for the old connection goes (a fresh one never knew those tabs).
      this.setQueue(attempted ? [] : this.queue.filter((entry) => !entry.resumeOnly));
    }
    // No token: resume is off on the server (grace 0), a drop starts afresh.
    this.resume = typeof message.token === "string" && message.token
      ? { token: message.token, grace: Number(message.grace) * 1000 }
      : null;
    this.welcomed = true;
    this.onOpen({ resumed, attempted });
    const ws = this.ws;
    while (this.queue.length > 0 && ws && ws.readyState === WebSocket.OPEN) ws.send(this.queue.shift().text);
    this.scheduleExpiry(); // for what is left, if the socket closed meanwhile
    this.ackTimer = setInterval(() => this.acknowledge(), ACK_INTERVAL);
  }

  acknowledge() {
    if (!this.isOpen || this.frames === this.acked) return;
    this.acked = this.frames;
    this.ws.send(JSON.stringify({ type: Msg.ACK, v: PROTOCOL_VERSION, received: this.frames }));
  }

  closed({ code, reason }) {
    this.stopTimers();
    const lived = this.openedAt ? Date.now() - this.openedAt : 0;
    this.openedAt = 0;
    if (lived >= this.policy.stableAfter) this.attempt = 0;
    const decision = afterClose(code, this.attempt, this.policy);
    // A drop, not a close the server announced: the connection waits on the server
    // for the rest of its grace window (a failed attempt to reconnect keeps the window).
    const resumable = decision.action === "retry" && !this.announced && this.resume !== null;
    if (!resumable) {
      this.forgetResume();
    } else if (!this.resumeTimer) {
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = null;
        if (this.isOpen && this.welcomed) return;
        this.forgetResume();
        if (this.onResumeLost) this.onResumeLost();
      }, this.resume.grace);
    }
    if (decision.action === "final") {
      this.final = { code, reason, kind: decision.kind };
      this.setQueue([]); // the tabs are told "disconnected": they gave those requests up
    } else if (decision.action === "retry" && this.url) {
      this.attempt += 1;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this.url && !this.isOpen && !this.connecting) this.open();
      }, decision.delay);
    }
    this.onClose({ code, reason, resumable, ...decision });
  }

  startHeartbeat() {
    this.heartbeatTimer = setInterval(() => {
      if (!this.isOpen) return;
      const idle = this.config.inactivityTimeout;
      if (idle > 0 && Date.now() - this.lastActivity >= idle) {
        this.forgetResume();
        this.sayBye(this.ws);
        this.ws.close(Code.INACTIVITY, "Inactivity timeout");
        return;
      }
      this.ws.send(JSON.stringify({ type: "heartbeat" }));
      this.clearHeartbeatDeadline();
      this.heartbeatDeadline = setTimeout(() => {
        if (this.isOpen) this.ws.close(Code.HEARTBEAT_TIMEOUT, "Heartbeat timeout");
      }, this.config.heartbeatTimeout);
    }, this.config.heartbeatInterval);
  }

  clearHeartbeatDeadline() {
    if (this.heartbeatDeadline) clearTimeout(this.heartbeatDeadline);
    this.heartbeatDeadline = null;
  }

  stopTimers() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.ackTimer = null;
    this.clearHeartbeatDeadline();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}

/** A clock that only goes forward (the wall clock can be set back). */
function now() {
  return performance.now();
}

// --- worker.js
// quartdash's SharedWorker: one server socket shared by every tab of one session.
// It replaces Dash's dash-ws-worker.js and speaks the same renderer protocol; what it
// adds: reconnect by close code, the close's reason and finality told to every tab
// (quartdash_status), the event channel (quartdash_event) routed to its tab, and a
// leave (quartdash_leave) when a tab goes and the socket stays for the others.
// The page loads it from a URL that carries a tag of the session, so a new login in
// the same browser gets a new worker and never shares the old one's socket.


// A port that fails is a tab gone without a word: the server hears it as a leave.
const router = new Router(console, (id) => {
  connected.delete(id);
  socket.leave(id);
});

function status(fields) {
  return { type: Msg.STATUS, v: PROTOCOL_VERSION, ...fields };
}

/** The renderers told "connected" since the socket last went down. */
const connected = new Set();

function tellConnected(id) {
  if (router.post(id, { type: Msg.CONNECTED, rendererId: id })) connected.add(id);
}

function disconnected(reason) {
  // Dash's renderer answers its pending callbacks with prevent_update on this, and
  // restarts its persistent callbacks at the next "connected". Only a renderer that was
  // connected hears it: one that is still waiting for its first "connected" (a page that
  // has just loaded) would otherwise start its persistent callbacks twice.
  // Their requests still queued are given up with the rest: never sent.
  socket.dropRequests(connected);
  for (const id of connected) {
    router.post(id, { type: Msg.DISCONNECTED, rendererId: "", payload: { reason } });
  }
  connected.clear();
}

const socket = new ServerSocket({
  onOpen({ resumed, attempted }) {
    if (attempted && !resumed) disconnected("Connection not resumed");
    for (const id of Array.from(router.ports.keys())) tellConnected(id);
    router.broadcast(status({ state: "open", resumed }));
  },
  onMessage(data) {
    router.fromServer(data);
  },
  onClose(close) {
    // A drop the server keeps for a resume is not told to the renderers (yet).
    if (!close.resumable) disconnected(close.reason || "Connection closed");
    router.broadcast(status({ state: "closed", ...close }));
  },
  onResumeLost() {
    disconnected("Connection lost");
  },
  onUnanswered({ rendererId, requestId }) {
    // No socket came in time (socket.js, CALLBACK_WAIT): the request is not sent.
    router.post(rendererId, noResponse(rendererId, requestId));
  },
});

/** Forget a tab's renderer; true if it was still known (not dropped already). */
function forget(id) {
  connected.delete(id);
  return router.remove(id);
}

/** `tab` is one port's state: the renderer id it announced in its CONNECT. */
function onRendererMessage(tab, message) {
  const port = tab.port;
  switch (message.type) {
    case Msg.CONNECT: {
      const id = String(message.rendererId);
      // The same tab under a new renderer id: the old one has left.
      if (tab.rendererId && tab.rendererId !== id && forget(tab.rendererId)) socket.leave(tab.rendererId);
      tab.rendererId = id;
      const { serverUrl, inactivityTimeout, heartbeatInterval } = message.payload || {};
      router.add(tab.rendererId, port);
      const config = {};
      if (typeof inactivityTimeout === "number") config.inactivityTimeout = inactivityTimeout;
      if (typeof heartbeatInterval === "number") config.heartbeatInterval = heartbeatInterval;
      socket.setConfig(config);
      if (socket.isOpen) {
        tellConnected(tab.rendererId);
        router.post(tab.rendererId, status({ state: "open" }));
      } else {
        socket.connect(serverUrl); // at once, whatever an earlier page's drop left pending
      }
      return;
    }
    case Msg.DISCONNECT: {
      // From the renderer as it unmounts, or from the page script as its tab goes for
      // good (page.js, leaveWhenGone): the last one out closes the socket with a goodbye;
      // any other is a leave, so that the server ends that tab's subscriptions and
      // persistent callbacks while the socket goes on for the others.
      const id = tab.rendererId;
      tab.rendererId = null;
      const known = id !== null && forget(id);
      if (router.size === 0) socket.disconnect();
      else if (known) socket.leave(id);
      return;
    }
    case Msg.TAB_VISIBLE:
      socket.resetActivity();
      return;
    default: {
      // A port speaks for the renderer it connected as, whatever its messages claim.
      const frame = tab.rendererId ? router.toServer(tab.rendererId, message) : null;
      if (frame) socket.send(frame);
    }
  }
}

self.onconnect = (event) => {
  const port = event.ports[0];
  const tab = { port, rendererId: null };
  port.onmessage = (e) => {
    if (e.data && typeof e.data === "object") onRendererMessage(tab, e.data);
  };
  port.start();
};
})();
