// The socket's URL and first frame: the resume token travels in the first frame
// (quartdash_hello), never in the URL, whose query string proxies and access logs keep.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PROTOCOL_VERSION } from "../src/policy.js";
import { ServerSocket, helloMessage } from "../src/socket.js";

// The worker resolves the socket's URL against its own location.
globalThis.self ??= { location: { href: "http://127.0.0.1:8050/page" } };

function socket() {
  const s = new ServerSocket({ onOpen() {}, onMessage() {}, onClose() {}, log: { warn() {} } });
  s.url = "ws://127.0.0.1:8050/_dash-ws-callback";
  return s;
}

test("a resume puts its token and count in the first frame, not in the URL", () => {
  const s = socket();
  s.resume = { token: "tok-SECRET-123", grace: 10000 };
  s.frames = 7;
  const url = new URL(s.socketUrl());
  assert.equal(url.search, "?quartdash=1");
  assert.ok(!url.href.includes("tok-SECRET-123"));
  assert.equal(s.attempting, true);
  assert.deepEqual(JSON.parse(s.hello), {
    type: "quartdash_hello", v: PROTOCOL_VERSION, resume: "tok-SECRET-123", received: 7,
  });
});

test("a fresh connection says so in its first frame", () => {
  const s = socket();
  s.frames = 3; // left from a connection that cannot be resumed
  assert.equal(new URL(s.socketUrl()).search, "?quartdash=1");
  assert.equal(s.attempting, false);
  assert.deepEqual(JSON.parse(s.hello), {
    type: "quartdash_hello", v: PROTOCOL_VERSION, resume: null, received: 0,
  });
});

test("the hello is small and its fields are the server's types", () => {
  const hello = JSON.parse(helloMessage("x".repeat(24), 123456789));
  assert.equal(typeof hello.resume, "string");
  assert.ok(Number.isInteger(hello.received) && hello.received >= 0);
  assert.ok(helloMessage("x".repeat(24), 123456789).length < 1024); // protocol.MAX_HELLO_BYTES
});

test("a welcome without a token (resume off on the server) keeps nothing to resume", () => {
  const s = socket();
  s.welcome({ type: "quartdash_welcome", v: 1, id: "c1", token: null, grace: 0, resumed: false });
  assert.equal(s.resume, null);
  assert.equal(s.welcomed, true);
  s.stopTimers();
  s.welcome({ type: "quartdash_welcome", v: 1, id: "c2", token: "abc", grace: 3, resumed: false });
  assert.deepEqual(s.resume, { token: "abc", grace: 3000 });
  s.stopTimers();
});

test("a leave waits only for a resume: a fresh welcome drops it, and that tab's requests go", () => {
  const s = socket();
  s.url = null; // no page to reconnect for: nothing opens in this test
  s.send({ type: "callback_request", rendererId: "a", requestId: "1", payload: {} });
  s.send({ type: "get_props_response", rendererId: "b", requestId: "g", payload: {} });
  s.leave("a");
  assert.deepEqual(s.queue.map((e) => [JSON.parse(e.text).type, e.resumeOnly]),
    [["get_props_response", false], ["quartdash_leave", true]]);
  assert.deepEqual(JSON.parse(s.queue[1].text), { type: "quartdash_leave", v: PROTOCOL_VERSION, rendererId: "a" });
  assert.equal(s.expiryTimer, null); // the only request waiting went with its tab
  s.attempting = false; // the next socket is a fresh connection
  s.welcome({ type: "quartdash_welcome", v: 1, id: "c1", token: "t", grace: 10, resumed: false });
  s.stopTimers();
  assert.deepEqual(s.queue.map((e) => JSON.parse(e.text).type), ["get_props_response"]);
  s.final = { code: 4401 }; // closed for good: a leave is not even queued
  s.leave("b");
  assert.equal(s.queue.length, 1);
});
