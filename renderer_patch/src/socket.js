// The one WebSocket a worker holds: connect, heartbeat, idle close, and reconnect as
// the close code says (policy.js). Same timings and heartbeat as Dash's worker.

import { afterClose, Code, DEFAULT_POLICY, effectiveClose } from "./policy.js";
import { Msg, isOurs } from "./router.js";

/** Messages kept while the socket is down; beyond this the oldest are dropped. */
export const MAX_QUEUED = 1000;

export class ServerSocket {
  constructor({ onOpen, onMessage, onClose, policy = DEFAULT_POLICY, log = console }) {
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onClose = onClose;
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
    this.queue = [];
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

  /** Open the socket to `url` unless it is open or opening. A new page after a final
   *  close tries once more: it may have a new login, or the server a new mind. */
  connect(url) {
    this.url = url;
    if (this.final) {
      this.final = null;
      this.attempt = 0;
    }
    if (this.isOpen || this.connecting || this.retryTimer) return;
    this.open();
  }

  /** The last page left: close cleanly and forget everything. */
  disconnect() {
    this.stopTimers();
    this.url = null;
    this.queue = [];
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        ws.close(Code.NORMAL, "Client disconnect");
      }
    }
    this.connecting = false;
  }

  send(message) {
    if (message.type !== "heartbeat") this.lastActivity = Date.now();
    const text = JSON.stringify(message);
    if (this.isOpen) {
      this.ws.send(text);
      return;
    }
    if (this.final) return; // nobody will carry it
    this.queue.push(text);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
    // Dash's idle close (4001) reconnects on the next use; a pending retry keeps its delay.
    if (this.url && !this.connecting && !this.retryTimer) this.open();
  }

  resetActivity() {
    this.lastActivity = Date.now();
  }

  open() {
    this.connecting = true;
    this.announced = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.connecting = false;
      this.closed({ code: Code.ABNORMAL, reason: String(err) });
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.connecting = false;
      this.openedAt = Date.now();
      this.lastActivity = Date.now();
      while (this.queue.length > 0 && ws.readyState === WebSocket.OPEN) ws.send(this.queue.shift());
      this.startHeartbeat();
      this.onOpen();
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
    let other = false;
    for (const message of messages) {
      if (!message || typeof message !== "object") continue;
      if (message.type === Msg.HEARTBEAT_ACK) this.clearHeartbeatDeadline();
      else if (isOurs(message, Msg.CLOSE)) this.announced = { code: message.code, reason: message.reason };
      else other = true;
    }
    if (other) {
      this.lastActivity = Date.now();
      this.onMessage(data);
    }
  }

  closed({ code, reason }) {
    this.stopTimers();
    const lived = this.openedAt ? Date.now() - this.openedAt : 0;
    this.openedAt = 0;
    if (lived >= this.policy.stableAfter) this.attempt = 0;
    const decision = afterClose(code, this.attempt, this.policy);
    if (decision.action === "final") {
      this.final = { code, reason, kind: decision.kind };
      this.queue = [];
    } else if (decision.action === "retry" && this.url) {
      this.attempt += 1;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this.url && !this.isOpen && !this.connecting) this.open();
      }, decision.delay);
    }
    this.onClose({ code, reason, ...decision });
  }

  startHeartbeat() {
    this.heartbeatTimer = setInterval(() => {
      if (!this.isOpen) return;
      const idle = this.config.inactivityTimeout;
      if (idle > 0 && Date.now() - this.lastActivity >= idle) {
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
    this.clearHeartbeatDeadline();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
