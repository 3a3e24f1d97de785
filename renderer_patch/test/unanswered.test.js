// A callback request that cannot reach the server is answered, in bounded time, instead
// of waiting in silence: queued while no socket is welcomed, it waits at most the
// socket's callbackWait (CALLBACK_WAIT, 5 s, in the worker), then the worker answers it
// "the server did not respond" and it leaves the queue, never to be sent. A socket that
// is back in time carries it as before; the reconnect backoff is not cut short for it.
//
// The scenarios with a server run it for real (a TCP server speaking just enough
// WebSocket: it drops each socket at once, or welcomes it and records what it receives),
// with Node's own WebSocket client, in a child process started with
// --experimental-websocket (Node 20), as in reconnect.test.js.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_QUEUED, ServerSocket } from "../src/socket.js";
import { FAKE_SERVER, runScript } from "../support/fake_server.js";

const SOCKET = new URL("../src/socket.js", import.meta.url).href;

/** Run `body` (an async function's text, given `socket`, `server` ({mode: "drop" or
 *  "welcome", handshakes (ms since the start), received (the texts of the frames it
 *  got), cut() (drop the open sockets)}), `unanswered` ({rendererId, requestId, at}),
 *  `closes`, `sleep`, `until(condition, ms)` and the connect URL `url`) with the
 *  socket's `options`; return what the body returns. */
function scenario(options, body) {
  const script = `
    import net from "node:net";
    import { ServerSocket } from ${JSON.stringify(SOCKET)};
    import { readFrames, textFrame, upgrade } from ${JSON.stringify(FAKE_SERVER)};
    globalThis.self = { location: { href: "http://127.0.0.1/" } };
    const started = Date.now();
    const WELCOME = JSON.stringify({ type: "quartdash_welcome", v: 1, id: "c1",
                                     token: null, grace: 0, resumed: false });
    const server = { mode: "drop", handshakes: [], received: [], open: new Set(),
      cut() { for (const conn of this.open) conn.destroy(); this.open.clear(); } };
    const listener = net.createServer((conn) => {
      let buffer = Buffer.alloc(0);
      let upgraded = false;
      conn.on("error", () => {});
      conn.on("close", () => server.open.delete(conn));
      conn.on("data", (chunk) => {
        if (conn.dropping) return; // it reads nothing, and welcomes nobody
        buffer = Buffer.concat([buffer, chunk]);
        if (!upgraded) {
          const handshake = upgrade(buffer);
          if (handshake === null) return;
          if (!handshake.ok) return conn.destroy();
          buffer = handshake.rest;
          upgraded = true;
          server.handshakes.push(Date.now() - started);
          conn.write(handshake.reply);
          if (server.mode === "drop") {
            conn.dropping = true;
            return void setTimeout(() => conn.destroy(), 5);
          }
          server.open.add(conn);
        }
        const read = readFrames(buffer);
        buffer = read.rest;
        for (const text of read.texts) {
          server.received.push(text);
          if (JSON.parse(text).type === "quartdash_hello") conn.write(textFrame(WELCOME));
        }
      });
    });
    await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const url = "ws://127.0.0.1:" + listener.address().port + "/ws";
    const closes = [];
    const unanswered = [];
    const options = ${JSON.stringify(options)};
    const socket = new ServerSocket({
      onOpen() {}, onMessage() {}, onResumeLost() {},
      onClose(close) { closes.push({ at: Date.now() - started, ...close }); },
      onUnanswered(request) { unanswered.push({ at: Date.now() - started, ...request }); },
      policy: { ...options.policy, rateLimitedDelay: 15000, rateLimitedMaxDelay: 120000 },
      callbackWait: options.callbackWait,
      log: { warn() {} },
    });
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const until = async (condition, ms) => {
      const deadline = Date.now() + ms;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error("timed out: " + condition);
        await sleep(5);
      }
    };
    const now = () => Date.now() - started;
    const result = await (${body})({ socket, server, unanswered, closes, sleep, until, now, url });
    socket.disconnect();
    server.cut();
    listener.close();
    console.log(JSON.stringify(result));
    process.exit(0);
  `;
  return runScript(script);
}

const request = (id) => ({ type: "callback_request", rendererId: "r1", requestId: id, payload: {} });
const propsResponse = (id) => ({ type: "get_props_response", rendererId: "r1", requestId: id, payload: {} });

test("a callback request the server is not back for is answered after the wait and never sent", () => {
  const options = { policy: { initialDelay: 300, maxDelay: 300, stableAfter: 5000 }, callbackWait: 600 };
  const seen = scenario(options, `async ({ socket, server, unanswered, closes, until, now, url }) => {
    socket.connect(url);
    await until(() => closes.length >= 1, 5000); // the server is down: its socket drops
    const handshakes = server.handshakes.length;
    const sentAt = now();
    socket.send(${JSON.stringify(request("r1-1"))});
    socket.send(${JSON.stringify(propsResponse("g-1"))}); // not a callback request: kept
    const attemptedAtOnce = server.handshakes.length > handshakes || socket.connecting;
    await until(() => unanswered.length >= 1, 5000);
    const left = socket.queue.map((entry) => JSON.parse(entry.text).requestId);
    server.mode = "welcome"; // the server is back: the queue goes out on the next socket
    await until(() => server.received.some((t) => t.includes("g-1")), 5000);
    return { waited: unanswered[0].at - sentAt, unanswered: unanswered.map((u) => u.requestId),
             rendererId: unanswered[0].rendererId, left, attemptedAtOnce,
             received: server.received.map((t) => JSON.parse(t).type),
             timer: socket.expiryTimer };
  }`);
  assert.deepEqual(seen.unanswered, ["r1-1"], JSON.stringify(seen));
  assert.equal(seen.rendererId, "r1");
  assert.ok(seen.waited >= 590 && seen.waited < 600 + 1500, JSON.stringify(seen));
  assert.deepEqual(seen.left, ["g-1"]); // out of the queue at once
  assert.equal(seen.attemptedAtOnce, false); // the backoff was not cut short for it
  // The next socket carried the get_props response, and never the given-up request.
  assert.deepEqual(seen.received, ["quartdash_hello", "get_props_response"]);
  assert.equal(seen.timer, null);
});

test("a callback request queued during a drop the socket is back from in time is sent", () => {
  const options = { policy: { initialDelay: 200, maxDelay: 200, stableAfter: 5000 }, callbackWait: 3000 };
  const seen = scenario(options, `async ({ socket, server, unanswered, closes, until, now, url }) => {
    server.mode = "welcome";
    socket.connect(url);
    await until(() => socket.welcomed && socket.isOpen, 5000);
    server.cut(); // a network drop
    await until(() => closes.length >= 1, 5000);
    const sentAt = now();
    socket.send(${JSON.stringify(request("r1-1"))});
    const queued = socket.queue.length;
    await until(() => server.received.some((t) => t.includes("r1-1")), 5000);
    return { queued, sentAfter: now() - sentAt, timer: socket.expiryTimer, unanswered,
             received: server.received.map((t) => JSON.parse(t).type) };
  }`);
  assert.equal(seen.queued, 1);
  assert.ok(seen.sentAfter < 3000, JSON.stringify(seen));
  assert.deepEqual(seen.received, ["quartdash_hello", "quartdash_hello", "callback_request"]);
  assert.equal(seen.timer, null); // nothing left to expire
  assert.deepEqual(seen.unanswered, []);
});

// Without a server: the queue's own rules.

function quiet(callbackWait) {
  const unanswered = [];
  const socket = new ServerSocket({
    onOpen() {}, onMessage() {}, onClose() {}, onResumeLost() {},
    onUnanswered(r) { unanswered.push(r.requestId); },
    callbackWait, log: { warn() {} },
  });
  return { socket, unanswered };
}

const poll = async (condition, ms) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    assert.ok(Date.now() < deadline, "timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

test("each queued callback request has its own deadline, in the order they came", async () => {
  const { socket, unanswered } = quiet(150);
  socket.send(request("a"));
  await new Promise((resolve) => setTimeout(resolve, 100)); // the second comes later
  socket.send(request("b"));
  socket.send(propsResponse("g"));
  await poll(() => unanswered.length >= 1, 2000);
  assert.deepEqual(unanswered, ["a"]); // b has 100 ms more to go
  assert.equal(socket.queue.length, 2);
  await poll(() => unanswered.length >= 2, 2000);
  assert.deepEqual(unanswered, ["a", "b"]);
  assert.deepEqual(socket.queue.map((e) => JSON.parse(e.text).requestId), ["g"]);
  assert.equal(socket.expiryTimer, null);
});

test("a callback request pushed out of a full queue is answered at once", () => {
  const { socket, unanswered } = quiet(60000);
  socket.send(request("oldest"));
  for (let i = 0; i < MAX_QUEUED; i += 1) socket.send(propsResponse(`g${i}`));
  assert.deepEqual(unanswered, ["oldest"]);
  assert.equal(socket.queue.length, MAX_QUEUED);
  socket.disconnect();
  assert.equal(socket.expiryTimer, null);
});

test("requests of renderers told to give them up are dropped unanswered; a final close drops all", () => {
  const { socket, unanswered } = quiet(60000);
  socket.send(request("a1"));
  socket.send({ ...request("b1"), rendererId: "r2" });
  socket.dropRequests(new Set(["r1"]));
  assert.deepEqual(socket.queue.map((e) => JSON.parse(e.text).requestId), ["b1"]);
  assert.notEqual(socket.expiryTimer, null);
  socket.url = "ws://127.0.0.1:9/ws";
  socket.closed({ code: 4401, reason: "signed out" }); // as today: the tabs hear "disconnected"
  assert.deepEqual(socket.queue, []);
  assert.equal(socket.expiryTimer, null);
  assert.deepEqual(unanswered, []);
  socket.send(request("c1")); // after a final close nothing is queued, as before
  assert.deepEqual(socket.queue, []);
  socket.disconnect();
});
