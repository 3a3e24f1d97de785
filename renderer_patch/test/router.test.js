// Routing through real MessagePorts (node:worker_threads), read back synchronously.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageChannel, receiveMessageOnPort } from "node:worker_threads";

import { Router } from "../src/router.js";

const quiet = { warn() {} };

function tab(router, id) {
  const { port1, port2 } = new MessageChannel();
  router.add(id, port1);
  const received = () => {
    const out = [];
    for (let m = receiveMessageOnPort(port2); m; m = receiveMessageOnPort(port2)) out.push(m.message);
    return out;
  };
  return { received, close: () => { port1.close(); port2.close(); } };
}

test("responses, get_props requests and errors go to their own tab only", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const b = tab(router, "b");
  router.fromServer({ type: "callback_response", rendererId: "a", requestId: "1", payload: { status: "ok" } });
  router.fromServer({ type: "get_props_request", rendererId: "b", requestId: "p1", payload: {} });
  router.fromServer({ type: "error", rendererId: "b", payload: { message: "x" } });
  assert.deepEqual(a.received().map((m) => m.type), ["callback_response"]);
  assert.deepEqual(b.received().map((m) => m.type), ["get_props_request", "error"]);
  a.close(); b.close();
});

test("a run of set_props becomes one batch; order with events and responses is kept", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const sp = (n) => ({ type: "set_props", rendererId: "a", payload: { componentId: "x", props: { n } } });
  const ev = (n) => ({ type: "quartdash_event", v: 1, rendererId: "a", payload: { event: "e", data: n } });
  router.fromServer([sp(1), sp(2), ev(3), sp(4),
    { type: "callback_response", rendererId: "a", requestId: "r", payload: {} }, sp(5)]);
  const got = a.received();
  assert.deepEqual(got.map((m) => m.type),
    ["set_props_batch", "quartdash_event", "set_props", "callback_response", "set_props"]);
  assert.deepEqual(got[0].payload.map((p) => p.props.n), [1, 2]);
  assert.equal(got[1].payload.data, 3);
  assert.equal(got[2].payload.props.n, 4);
  a.close();
});

test("set_props for two tabs in one frame reach each tab", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const b = tab(router, "b");
  router.fromServer([
    { type: "set_props", rendererId: "a", payload: { componentId: "x", props: { v: 1 } } },
    { type: "set_props", rendererId: "b", payload: { componentId: "x", props: { v: 2 } } },
    { type: "set_props", rendererId: "a", payload: { componentId: "x", props: { v: 3 } } },
  ]);
  assert.deepEqual(a.received().map((m) => m.payload.props.v), [1, 3]);
  assert.deepEqual(b.received().map((m) => m.payload.props.v), [2]);
  a.close(); b.close();
});

test("1,000 events arrive once each, in order", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const frame = Array.from({ length: 1000 }, (_, i) =>
    ({ type: "quartdash_event", v: 1, rendererId: "a", payload: { event: "n", data: i } }));
  router.fromServer(frame.slice(0, 500));
  router.fromServer(frame.slice(500));
  assert.deepEqual(a.received().map((m) => m.payload.data), Array.from({ length: 1000 }, (_, i) => i));
  a.close();
});

test("an event with no renderer id goes to every tab; a newer protocol version is ignored", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const b = tab(router, "b");
  router.fromServer({ type: "quartdash_event", v: 1, rendererId: "", payload: { event: "all", data: 1 } });
  router.fromServer({ type: "quartdash_event", v: 99, rendererId: "a", payload: { event: "new", data: 1 } });
  assert.deepEqual(a.received().map((m) => m.payload.event), ["all"]);
  assert.deepEqual(b.received().map((m) => m.payload.event), ["all"]);
  a.close(); b.close();
});

test("heartbeat acks, close notices and unknown types reach no tab", () => {
  const warnings = [];
  const router = new Router({ warn: (w) => warnings.push(w) });
  const a = tab(router, "a");
  router.fromServer([{ type: "heartbeat_ack" }, { type: "quartdash_close", v: 1, code: 4401 },
    { type: "mystery", rendererId: "a" }, null, 7]);
  assert.deepEqual(a.received(), []);
  assert.equal(warnings.length, 1);
  a.close();
});

test("messages for a tab that is gone are dropped; a dead port is forgotten", () => {
  const router = new Router(quiet);
  router.fromServer({ type: "callback_response", rendererId: "gone", requestId: "1", payload: {} });
  router.add("dead", { postMessage() { throw new Error("closed"); } });
  assert.equal(router.post("dead", { type: "x" }), false);
  assert.equal(router.size, 0);
});

test("only callback requests and get_props answers go to the server, rebuilt", () => {
  const router = new Router(quiet);
  const request = { type: "callback_request", rendererId: "spoof", requestId: "1", payload: { output: "o" }, extra: 1 };
  assert.deepEqual(router.toServer("a", request),
    { type: "callback_request", rendererId: "a", requestId: "1", payload: { output: "o" } });
  assert.deepEqual(router.toServer("a", { type: "get_props_response", requestId: "p", payload: { v: 1 } }),
    { type: "get_props_response", rendererId: "a", requestId: "p", payload: { v: 1 } });
  assert.equal(router.toServer("a", { type: "heartbeat" }), null);
});

test("set_props for every tab (\"\") reach each tab under its own id; runs and order hold", () => {
  const router = new Router(quiet);
  const a = tab(router, "a");
  const b = tab(router, "b");
  const sp = (id, n) => ({ type: "set_props", rendererId: id, payload: { componentId: "x", props: { n } } });
  router.fromServer([sp("", 1), sp("", 2), { type: "quartdash_event", v: 1, rendererId: "", payload: { event: "e", data: 3 } },
    sp("", 4), { type: "callback_response", rendererId: "a", requestId: "r", payload: {} }, sp("", 5), sp("b", 6), sp("b", 7), sp("", 8)]);
  const shape = (m) => [m.type, m.rendererId, m.type === "set_props_batch" ? m.payload.map((p) => p.props.n)
    : m.type === "set_props" ? m.payload.props.n : m.type];
  assert.deepEqual(a.received().map(shape), [
    ["set_props_batch", "a", [1, 2]], ["quartdash_event", "", "quartdash_event"], ["set_props", "a", 4],
    ["callback_response", "a", "callback_response"], ["set_props", "a", 5], ["set_props", "a", 8]]);
  assert.deepEqual(b.received().map(shape), [
    ["set_props_batch", "b", [1, 2]], ["quartdash_event", "", "quartdash_event"], ["set_props", "b", 4],
    ["set_props", "b", 5], ["set_props_batch", "b", [6, 7]], ["set_props", "b", 8]]);
  a.close(); b.close();
});

test("a port that fails is told to onGone once, and the other tabs still get a broadcast", () => {
  const gone = [];
  const router = new Router(quiet, (id) => gone.push(id));
  const a = tab(router, "a");
  router.add("dead", { postMessage() { throw new Error("closed"); } });
  router.fromServer({ type: "set_props", rendererId: "", payload: { componentId: "x", props: { n: 1 } } });
  router.fromServer({ type: "set_props", rendererId: "", payload: { componentId: "x", props: { n: 2 } } });
  assert.deepEqual(gone, ["dead"]);
  assert.deepEqual(a.received().map((m) => m.payload.props.n), [1, 2]);
  assert.equal(router.remove("dead"), false);
  assert.equal(router.remove("a"), true);
  a.close();
});
