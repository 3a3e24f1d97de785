// Message routing between the renderers (one per tab) and the one server socket.
// The message shapes are exactly those of Dash's own worker (dash-renderer 4.4), so the
// stock renderer is unchanged; quartdash's own messages start with "quartdash_".

import { PROTOCOL_VERSION } from "./policy.js";

export const Msg = Object.freeze({
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
export const NO_RESPONSE = "Callback failed: the server did not respond.";

/** The answer to a callback request the worker gave up sending: the page script lets
 *  the renderer throw it as it throws a failed `fetch` (errors.js, `noResponse`). */
export function noResponse(rendererId, requestId) {
  return {
    type: Msg.CALLBACK_RESPONSE,
    rendererId,
    requestId,
    payload: { status: "error", message: NO_RESPONSE, noResponse: true },
  };
}

/** True for a quartdash message of a protocol version this worker speaks. */
export function isOurs(message, type) {
  return message.type === type && message.v <= PROTOCOL_VERSION;
}

/** The renderer id of a server message meant for every tab of the socket (a push by
 *  user, session, connection or everyone). */
export const EVERY_TAB = "";

/**
 * The renderers' ports, by renderer id, and the rules for who gets what.
 * A port that throws on postMessage belongs to a tab that is gone: it is dropped, and
 * `onGone(rendererId)` is told, so that the server can be told too.
 */
export class Router {
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
