// After a 1001 (a worker stopping in a deploy) the worker comes back at a random moment of
// a window, so the pages of a stopping worker do not all reconnect at the same instant:
// the delay function itself (deterministic, and the share of pages per 100 ms for many
// pages), and 40 worker sockets against a real TCP server that closes them all at once.
import assert from "node:assert/strict";
import { test } from "node:test";

import { afterClose, backoff, Code, DEFAULT_POLICY, goingAwayDelay } from "../src/policy.js";
import { FAKE_SERVER, runScript } from "../support/fake_server.js";

const SOCKET = new URL("../src/socket.js", import.meta.url).href;

/** A seeded generator in [0, 1) (a linear congruential one): the same run every time. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test("1001 and 1012: the first retry is uniform over [goingAwayMinDelay, goingAwayMaxDelay]", () => {
  for (const code of [Code.GOING_AWAY, Code.SERVICE_RESTART]) {
    assert.deepEqual(afterClose(code, 0, DEFAULT_POLICY, () => 0), { action: "retry", delay: 250 });
    assert.deepEqual(afterClose(code, 0, DEFAULT_POLICY, () => 0.5), { action: "retry", delay: 1625 });
    assert.equal(afterClose(code, 0, DEFAULT_POLICY, () => 0.999999).delay, 3000);
  }
  assert.equal(DEFAULT_POLICY.goingAwayMinDelay, 250);
  assert.equal(DEFAULT_POLICY.goingAwayMaxDelay, 3000);
});

test("a 1001 after failed attempts waits at least the usual backoff", () => {
  const low = () => 0;
  for (const attempt of [1, 3, 6, 30]) {
    const usual = backoff(attempt, DEFAULT_POLICY.initialDelay, DEFAULT_POLICY.maxDelay, low);
    assert.equal(goingAwayDelay(attempt, DEFAULT_POLICY, low), Math.max(250, usual));
  }
  assert.equal(goingAwayDelay(6, DEFAULT_POLICY, low), 15000);
});

test("10,000 pages closed at the same instant: no 100 ms holds more than 4.5 % of them", () => {
  const random = seeded(19);
  const bins = new Map();
  for (let page = 0; page < 10000; page += 1) {
    const bin = Math.floor(goingAwayDelay(0, DEFAULT_POLICY, random) / 100);
    bins.set(bin, (bins.get(bin) || 0) + 1);
  }
  // Uniform over 2.75 s: 3.6 % per 100 ms on average; the old 0.5-1 s backoff put 20 %.
  const peak = Math.max(...bins.values());
  assert.ok(peak <= 450, `peak ${peak} of 10000 in one 100 ms`);
  assert.ok(Math.min(...bins.keys()) >= 2 && Math.max(...bins.keys()) <= 30, [...bins.keys()]);
});

test("40 sockets closed with 1001 at once reconnect spread over the window", () => {
  const policy = {
    initialDelay: 100, maxDelay: 800, stableAfter: 5000,
    rateLimitedDelay: 15000, rateLimitedMaxDelay: 120000,
    goingAwayMinDelay: 200, goingAwayMaxDelay: 2200,
  };
  const seen = runScript(`
    import { ServerSocket } from ${JSON.stringify(SOCKET)};
    import { serve, textFrame } from ${JSON.stringify(FAKE_SERVER)};
    globalThis.self = { location: { href: "http://127.0.0.1/" } };
    const started = Date.now();
    const handshakes = [];
    const open = [];
    const { server, url } = await serve((conn) => {
      handshakes.push(Date.now() - started);
      open.push(conn);
    });
    const closes = [];
    const sockets = [];
    for (let i = 0; i < 40; i += 1) {
      const socket = new ServerSocket({
        onOpen() {}, onMessage() {}, onResumeLost() {},
        onClose(close) { closes.push({ at: Date.now() - started, code: close.code, action: close.action }); },
        policy: ${JSON.stringify(policy)},
        log: { warn() {} },
      });
      sockets.push(socket);
      socket.connect(url);
    }
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const deadline = Date.now() + 10000;
    while (handshakes.length < 40 && Date.now() < deadline) await sleep(10);
    await sleep(50);
    // The server stops: every socket gets the notice and a 1001 close frame at once.
    const notice = JSON.stringify({ type: "quartdash_close", v: 1, code: 1001, reason: "server restarting" });
    const reason = Buffer.from("server restarting");
    const close = Buffer.concat([Buffer.from([0x88, 2 + reason.length, 1001 >> 8, 1001 & 255]), reason]);
    const closedAt = Date.now() - started;
    for (const conn of open.splice(0)) { conn.write(textFrame(notice)); conn.end(close); }
    while (handshakes.length < 80 && Date.now() < deadline + 5000) await sleep(10);
    for (const socket of sockets) socket.disconnect();
    for (const conn of open) conn.destroy();
    server.close();
    console.log(JSON.stringify({ closedAt, handshakes, closes }));
    process.exit(0);
  `);
  const again = seen.handshakes.slice(40).map((t) => t - seen.closedAt);
  assert.equal(again.length, 40, JSON.stringify(seen));
  assert.equal(seen.closes.length, 40);
  for (const c of seen.closes) assert.deepEqual([c.code, c.action], [1001, "retry"]);
  // Within the window (the close takes a moment to arrive; timers fire a little late).
  for (const t of again) assert.ok(t >= 190 && t <= 2200 + 500, JSON.stringify(again));
  // Uniform over 2 s: about 2 per 100 ms. At once (the old 50-100 ms here) all 40 would.
  const crowd = Math.max(...again.map((s) => again.filter((t) => t >= s && t < s + 100).length));
  assert.ok(crowd <= 10, `${crowd} of 40 within 100 ms: ${JSON.stringify(again)}`);
});
