// The page's gate: a callback response with a handover token waits, with everything
// after it, until the token is redeemed; then all reach the other listeners in order.
// Real MessagePorts (the global MessageChannel), a fetch that the test answers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { gatePort, tokenOf } from "../src/handover.js";

const quiet = { warn() {} };

/** Poll `condition` every 5 ms; fail after 5 s. */
async function until(condition, what) {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function setup(t, fetchImpl = null, log = quiet) {
  const { port1, port2 } = new MessageChannel();
  t.after(() => { port1.close(); port2.close(); });
  const posts = []; // [url, options, resolve]
  const arrived = []; // every message the port delivers, as a listener ahead of the gate sees it
  port1.addEventListener("message", (event) => arrived.push(event.data));
  gatePort(port1, "/_quartdash/handover",
    fetchImpl || ((url, options) => new Promise((resolve) => posts.push([url, options, resolve]))), log);
  const seen = [];
  port1.onmessage = (event) => seen.push(event.data); // the renderer's way of listening
  return { port2, posts, arrived, seen };
}

const ids = (messages) => messages.map((m) => m.requestId || m.type);

test("tokenOf reads only a callback_response's string token", () => {
  assert.equal(tokenOf({ type: "callback_response", quartdash_handover: "abc" }), "abc");
  assert.equal(tokenOf({ type: "set_props", quartdash_handover: "abc" }), null);
  assert.equal(tokenOf({ type: "callback_response", quartdash_handover: 5 }), null);
  assert.equal(tokenOf({ type: "callback_response", quartdash_handover: "x".repeat(101) }), null);
  assert.equal(tokenOf(null), null);
});

test("without a token, messages pass at once and nothing is posted", async (t) => {
  const s = setup(t);
  s.port2.postMessage({ type: "callback_response", requestId: "1" });
  await until(() => s.seen.length === 1, "the response");
  assert.deepEqual(ids(s.seen), ["1"]);
  assert.equal(s.posts.length, 0);
});

test("a response with a token waits for the redeem, and what follows waits behind it", async (t) => {
  const s = setup(t);
  s.port2.postMessage({ type: "callback_response", requestId: "1", quartdash_handover: "tok" });
  s.port2.postMessage({ type: "set_props", payload: { n: 2 } });
  s.port2.postMessage({ type: "callback_response", requestId: "3" });
  await until(() => s.arrived.length === 3 && s.posts.length === 1, "the messages and the redeem");
  assert.deepEqual(s.seen, [], "nothing may reach the renderer before the cookie is set");
  const [url, options, resolve] = s.posts[0];
  assert.equal(url, "/_quartdash/handover");
  assert.equal(options.method, "POST");
  assert.equal(options.credentials, "same-origin");
  assert.deepEqual(JSON.parse(options.body), { token: "tok" }); // in the body, never the URL
  resolve({ status: 204 });
  await until(() => s.seen.length === 3, "the held messages");
  assert.deepEqual(ids(s.seen), ["1", "set_props", "3"]);
  // and later messages flow straight through again
  s.port2.postMessage({ type: "callback_response", requestId: "4" });
  await until(() => s.seen.length === 4, "a later message");
  assert.deepEqual(ids(s.seen), ["1", "set_props", "3", "4"]);
});

test("a failed redeem still lets the response through, with a warning", async (t) => {
  const warnings = [];
  const s = setup(t, () => Promise.reject(new Error("offline")), { warn: (...a) => warnings.push(a) });
  s.port2.postMessage({ type: "callback_response", requestId: "1", quartdash_handover: "tok" });
  await until(() => s.seen.length === 1, "the response");
  assert.equal(warnings.length, 1);
});
