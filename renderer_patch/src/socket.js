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

import { afterClose, Code, DEFAULT_POLICY, PROTOCOL_VERSION, effectiveClose } from "./policy.js";
import { Msg, isOurs } from "./router.js";

/** Messages kept while the socket is down; beyond this the oldest are dropped. */
export const MAX_QUEUED = 1000;
/** How often the count of received frames is acknowledged (the server then forgets them). */
export const ACK_INTERVAL = 1000;
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
export const CALLBACK_WAIT = 5000;

/** The socket's first frame, as the server parses it (protocol.parse_hello): the
 *  resume token held (null: a fresh connection) and the frames received under it. */
export function helloMessage(token, received) {
  return JSON.stringify({
    type: Msg.HELLO,
    v: PROTOCOL_VERSION,
    resume: token,
    received: token === null ? 0 : received,
  });
}

export class ServerSocket {
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
