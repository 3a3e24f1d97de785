// A tab that leaves while the socket stays for the others is told to the server
// (quartdash_leave), so that it ends that tab's subscriptions and persistent callbacks;
// the last tab out says goodbye instead. A leave while the socket is down waits for a
// resume of the same connection and is never carried to a fresh one. And a set_props
// for every tab ("" as its renderer id) reaches each tab under its own id.
//
// The worker runs for real (src/worker.js, imported as the SharedWorker's script), its
// tabs on real MessagePorts, its socket Node's own WebSocket client against a real TCP
// server speaking just enough WebSocket and quartdash protocol (hello, welcome with a
// resume token, a resume accepted or refused), in a child process started with
// --experimental-websocket (Node 20), as in unanswered.test.js.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FAKE_SERVER, runScript } from "../support/fake_server.js";

const WORKER = new URL("../src/worker.js", import.meta.url).href;

/** Run `body` (an async function's text) with the worker loaded and a server; it is
 *  given `server` ({grace (s, in welcomes), resume ("accept" or "refuse"), conns: one
 *  {frames: the parsed frames it received, resumed} per socket, push(conn, message),
 *  cut() (drop the open sockets)}), `tab(id)` (a tab connected as renderer `id`:
 *  {got: what the worker posted it, post(message), port: the worker's end}),
 *  `until(condition, ms)`, `sleep` and `types(conn)` (the types of a socket's frames).
 *  Returns what the body returns. */
function scenario(body) {
  const script = `
    import net from "node:net";
    import { MessageChannel } from "node:worker_threads";
    import { readFrames, textFrame, upgrade } from ${JSON.stringify(FAKE_SERVER)};
    globalThis.self = { location: { href: "http://127.0.0.1/" } };
    console.warn = () => {};
    await import(${JSON.stringify(WORKER)});
    let tokens = 0;
    const server = { grace: 10, resume: "accept", conns: [], sockets: new Set(),
      push(conn, message) { conn.socket.write(textFrame(JSON.stringify(message))); },
      cut() { for (const s of this.sockets) s.destroy(); this.sockets.clear(); } };
    const listener = net.createServer((socket) => {
      let buffer = Buffer.alloc(0);
      let upgraded = false;
      const conn = { frames: [], resumed: null, socket };
      socket.on("error", () => {});
      socket.on("close", () => server.sockets.delete(socket));
      socket.on("data", (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!upgraded) {
          const handshake = upgrade(buffer);
          if (handshake === null) return;
          if (!handshake.ok) return socket.destroy();
          buffer = handshake.rest;
          upgraded = true;
          socket.write(handshake.reply);
          server.sockets.add(socket);
          server.conns.push(conn);
        }
        const read = readFrames(buffer);
        buffer = read.rest;
        for (const text of read.texts) {
          const message = JSON.parse(text);
          conn.frames.push(message);
          if (message.type === "quartdash_hello") {
            conn.resumed = message.resume !== null && server.resume === "accept";
            tokens += 1;
            server.push(conn, { type: "quartdash_welcome", v: 1, id: "c" + tokens,
              token: "tok-" + tokens, grace: server.grace, resumed: conn.resumed });
          }
        }
      });
    });
    await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const serverUrl = "ws://127.0.0.1:" + listener.address().port + "/ws";
    const tab = (id) => {
      const { port1, port2 } = new MessageChannel();
      const got = [];
      port2.on("message", (message) => got.push(message));
      self.onconnect({ ports: [port1] });
      port2.postMessage({ type: "connect", rendererId: id, payload: { serverUrl } });
      return { got, port: port1, post: (message) => port2.postMessage(message) };
    };
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const until = async (condition, ms) => {
      const deadline = Date.now() + ms;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error("timed out: " + condition);
        await sleep(5);
      }
    };
    const types = (conn) => conn.frames.map((f) => f.type);
    let result;
    try {
      result = await (${body})({ server, tab, until, sleep, types });
    } catch (err) {
      result = { error: String(err), conns: server.conns.map(types) };
    }
    server.cut();
    listener.close();
    console.log(JSON.stringify(result));
    process.exit(0);
  `;
  const result = runScript(script);
  assert.equal(result.error, undefined, JSON.stringify(result));
  return result;
}

const connected = (t) => `() => ${t}.got.some((m) => m.type === "connected")`;

test("a tab that leaves while others stay is a leave; the last one out says goodbye", () => {
  const seen = scenario(`async ({ server, tab, until, types }) => {
    const a = tab("ra");
    const b = tab("rb");
    await until(${connected("a")}, 5000);
    await until(${connected("b")}, 5000);
    a.post({ type: "disconnect", rendererId: "ra" });
    a.post({ type: "disconnect" }); // the page script's, at pagehide: nothing more
    await until(() => types(server.conns[0]).includes("quartdash_leave"), 5000);
    b.post({ type: "disconnect", rendererId: "rb" });
    await until(() => types(server.conns[0]).includes("quartdash_bye"), 5000);
    return { conns: server.conns.length, frames: server.conns[0].frames };
  }`);
  assert.equal(seen.conns, 1);
  assert.deepEqual(seen.frames.map((f) => f.type), ["quartdash_hello", "quartdash_leave", "quartdash_bye"]);
  assert.deepEqual(seen.frames[1], { type: "quartdash_leave", v: 1, rendererId: "ra" });
});

test("a renderer that connects again under a new id leaves under the old one", () => {
  const seen = scenario(`async ({ server, tab, until, types }) => {
    const a = tab("old");
    await until(${connected("a")}, 5000);
    a.post({ type: "connect", rendererId: "new", payload: {} });
    await until(() => types(server.conns[0]).includes("quartdash_leave"), 5000);
    a.post({ type: "callback_request", rendererId: "new", requestId: "1", payload: {} });
    await until(() => types(server.conns[0]).includes("callback_request"), 5000);
    return { frames: server.conns[0].frames };
  }`);
  assert.deepEqual(seen.frames.map((f) => f.type), ["quartdash_hello", "quartdash_leave", "callback_request"]);
  assert.equal(seen.frames[1].rendererId, "old");
  assert.equal(seen.frames[2].rendererId, "new");
});

test("a leave while the socket is down goes out on the resume, after what the tab sent", () => {
  const seen = scenario(`async ({ server, tab, until, types }) => {
    const a = tab("ra");
    const b = tab("rb");
    await until(${connected("a")}, 5000);
    await until(${connected("b")}, 5000);
    server.cut(); // a network drop: the server keeps the connection for a resume
    await until(() => b.got.some((m) => m.type === "quartdash_status" && m.state === "closed"), 5000);
    a.post({ type: "get_props_response", rendererId: "ra", requestId: "g1", payload: {} });
    a.post({ type: "disconnect", rendererId: "ra" });
    await until(() => server.conns.length === 2 && types(server.conns[1]).includes("quartdash_leave"), 5000);
    return { resumed: server.conns[1].resumed, frames: server.conns[1].frames,
             told: b.got.filter((m) => m.type === "disconnected").length };
  }`);
  assert.equal(seen.resumed, true);
  assert.deepEqual(seen.frames.map((f) => f.type),
    ["quartdash_hello", "get_props_response", "quartdash_leave"]);
  assert.equal(seen.frames[0].resume, "tok-1");
  assert.equal(seen.frames[2].rendererId, "ra");
  assert.equal(seen.told, 0); // the tab that stayed never knew of the drop
});

for (const [how, setup] of [
  ["the resume window passed", "server.grace = 0.2;"],
  ["the server refused the resume", 'server.resume = "refuse";'],
]) {
  test(`a leave while the socket is down is not sent on a fresh connection (${how})`, () => {
    const seen = scenario(`async ({ server, tab, until, types }) => {
      ${setup}
      const a = tab("ra");
      const b = tab("rb");
      await until(${connected("a")}, 5000);
      await until(${connected("b")}, 5000);
      server.cut();
      await until(() => b.got.some((m) => m.type === "quartdash_status" && m.state === "closed"), 5000);
      a.post({ type: "disconnect", rendererId: "ra" });
      // The tab that stayed is told "connected" on the fresh socket, and speaks on it.
      await until(() => b.got.filter((m) => m.type === "connected").length === 2, 8000);
      b.post({ type: "callback_request", rendererId: "rb", requestId: "1", payload: {} });
      await until(() => server.conns.length === 2 && types(server.conns[1]).includes("callback_request"), 5000);
      return { resumed: server.conns[1].resumed, frames: types(server.conns[1]),
               told: b.got.filter((m) => m.type === "disconnected").length };
    }`);
    assert.equal(seen.resumed, false);
    assert.deepEqual(seen.frames, ["quartdash_hello", "callback_request"]);
    assert.equal(seen.told, 1); // the persistent callbacks restart on the fresh socket
  });
}

test("a tab whose port fails is a leave, once", () => {
  const seen = scenario(`async ({ server, tab, until, types }) => {
    const a = tab("ra");
    const b = tab("rb");
    await until(${connected("a")}, 5000);
    await until(${connected("b")}, 5000);
    a.port.postMessage = () => { throw new Error("the tab is gone"); };
    server.push(server.conns[0], { type: "set_props", rendererId: "ra", payload: { props: { n: 1 } } });
    await until(() => types(server.conns[0]).includes("quartdash_leave"), 5000);
    a.post({ type: "disconnect", rendererId: "ra" }); // already gone: no second leave
    b.post({ type: "callback_request", rendererId: "rb", requestId: "1", payload: {} });
    await until(() => types(server.conns[0]).includes("callback_request"), 5000);
    return { frames: server.conns[0].frames };
  }`);
  assert.deepEqual(seen.frames.map((f) => f.type), ["quartdash_hello", "quartdash_leave", "callback_request"]);
  assert.equal(seen.frames[1].rendererId, "ra");
});

test("set_props for every tab reach each tab under its own id, in order", () => {
  const seen = scenario(`async ({ server, tab, until }) => {
    const a = tab("ra");
    const b = tab("rb");
    await until(${connected("a")}, 5000);
    await until(${connected("b")}, 5000);
    const sp = (id, n) => ({ type: "set_props", rendererId: id, payload: { props: { n } } });
    server.push(server.conns[0], [sp("", 1), sp("", 2),
      { type: "quartdash_event", v: 1, rendererId: "", payload: { event: "e", data: 3 } },
      sp("", 4), sp("ra", 5)]);
    const delivered = (t) => t.got.filter((m) => m.type.startsWith("set_props") || m.type === "quartdash_event");
    await until(() => delivered(a).length === 4 && delivered(b).length === 3, 5000);
    return { a: delivered(a), b: delivered(b) };
  }`);
  const shape = (m) => [m.type, m.rendererId,
    m.type === "set_props_batch" ? m.payload.map((p) => p.props.n)
      : m.type === "set_props" ? m.payload.props.n : m.payload.data];
  assert.deepEqual(seen.a.map(shape), [
    ["set_props_batch", "ra", [1, 2]], ["quartdash_event", "", 3],
    ["set_props", "ra", 4], ["set_props", "ra", 5]]);
  assert.deepEqual(seen.b.map(shape), [
    ["set_props_batch", "rb", [1, 2]], ["quartdash_event", "", 3], ["set_props", "rb", 4]]);
});
