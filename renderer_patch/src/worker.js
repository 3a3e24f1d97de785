// quartdash's SharedWorker: one server socket shared by every tab of one session.
// It replaces Dash's dash-ws-worker.js and speaks the same renderer protocol; what it
// adds: reconnect by close code, the close's reason and finality told to every tab
// (quartdash_status), the event channel (quartdash_event) routed to its tab, and a
// leave (quartdash_leave) when a tab goes and the socket stays for the others.
// The page loads it from a URL that carries a tag of the session, so a new login in
// the same browser gets a new worker and never shares the old one's socket.

import { PROTOCOL_VERSION } from "./policy.js";
import { Msg, Router, noResponse } from "./router.js";
import { ServerSocket } from "./socket.js";

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
