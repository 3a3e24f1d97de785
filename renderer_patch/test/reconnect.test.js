// The worker's socket against a real TCP server whose WebSocket endpoint is broken (it
// completes each handshake and drops the connection at once, as an app that fails in
// its handler does), with Node's own WebSocket client: a page that connects while a
// retry waits out its backoff gets an attempt at once, and the backoff still spaces the
// worker's own retries, so such a server sees one handshake per page load plus the
// schedule, never a loop.
//
// Node 20 has its WebSocket behind --experimental-websocket, so each scenario runs in a
// child process started with it; it prints what it saw as JSON. (That client reports a
// refused handshake with an error and no close, where browsers send both, hence a
// server that accepts and drops.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { FAKE_SERVER, runScript } from "../support/fake_server.js";

const SOCKET = new URL("../src/socket.js", import.meta.url).href;

/** Run `body` (an async function's text, given `socket`, `handshakes` (times in ms since
 *  the start), `closes`, `sleep`, and the connect URL `url`) against a dropping server,
 *  with the socket's `policy`; return what the body returns. */
function scenario(policy, body) {
  const script = `
    import { ServerSocket } from ${JSON.stringify(SOCKET)};
    import { serve } from ${JSON.stringify(FAKE_SERVER)};
    globalThis.self = { location: { href: "http://127.0.0.1/" } };
    const started = Date.now();
    const handshakes = [];
    const { server, url } = await serve((conn) => {
      handshakes.push(Date.now() - started);
      setTimeout(() => conn.destroy(), 5);
    });
    const closes = [];
    const socket = new ServerSocket({
      onOpen() {}, onMessage() {}, onResumeLost() {},
      onClose(close) { closes.push({ at: Date.now() - started, ...close }); },
      policy: { ...${JSON.stringify(policy)}, rateLimitedDelay: 15000, rateLimitedMaxDelay: 120000 },
      log: { warn() {} },
    });
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const result = await (${body})({ socket, handshakes, closes, sleep, url });
    socket.disconnect();
    server.close();
    console.log(JSON.stringify(result));
    process.exit(0);
  `;
  return runScript(script);
}

test("a page that connects while a retry waits out its backoff gets an attempt at once", () => {
  const policy = { initialDelay: 20000, maxDelay: 30000, stableAfter: 5000 };
  const seen = scenario(policy, `async ({ socket, handshakes, closes, sleep, url }) => {
    socket.connect(url); // the first page
    while (closes.length < 1) await sleep(10);
    const waiting = socket.retryTimer !== null;
    const at = Date.now();
    socket.connect(url); // the next page, 10 to 20 s before the retry is due
    while (closes.length < 2 && Date.now() - at < 5000) await sleep(10);
    return { waiting, handshakes, closes: closes.map((c) => [c.code, c.action]),
             tookMs: Date.now() - at, attempt: socket.attempt };
  }`);
  assert.equal(seen.waiting, true);
  assert.equal(seen.handshakes.length, 2, JSON.stringify(seen));
  assert.ok(seen.tookMs < 2000, JSON.stringify(seen));
  assert.deepEqual(seen.closes, [[1006, "retry"], [1006, "retry"]]);
  // The page's attempt jumped the queue, not the schedule: the count goes on.
  assert.equal(seen.attempt, 2);
});

test("while the server is down the retries back off, and each page adds one attempt", () => {
  // Delays of 50-100 ms, 100-200, 200-400, 400-800, then 400-800 (the cap).
  const policy = { initialDelay: 100, maxDelay: 800, stableAfter: 5000 };
  const seen = scenario(policy, `async ({ socket, handshakes, sleep, url }) => {
    socket.connect(url);
    await sleep(1500);
    const alone = handshakes.length;
    for (let page = 0; page < 3; page += 1) {
      socket.connect(url); // three page loads, 100 ms apart
      await sleep(100);
    }
    await sleep(1200);
    return { alone, handshakes };
  }`);
  // Alone for 1.5 s: the first attempt and at most five retries, the shortest delays
  // adding up to 50 + 100 + 200 + 400 + 400 ms (a loop makes hundreds).
  assert.ok(seen.alone >= 3 && seen.alone <= 6, JSON.stringify(seen));
  const gaps = seen.handshakes.slice(1, seen.alone).map((t, i) => t - seen.handshakes[i]);
  for (let i = 0; i < gaps.length; i += 1) {
    // Each delay is at least half its ceiling, and the ceiling stops at the cap (800).
    const least = Math.min(50 * 2 ** i, 800 / 2);
    assert.ok(gaps[i] >= least - 10, `retry ${i} after ${gaps[i]} ms: ${JSON.stringify(seen)}`);
  }
  // Then 1.5 s more with three page loads: each page one attempt, plus the schedule
  // (its delays are at least 400 ms by now: at most four retries).
  const after = seen.handshakes.length - seen.alone;
  assert.ok(after >= 2 && after <= 3 + 4, JSON.stringify(seen));
});
