// An error answer from the socket reaches the renderer as a failed HTTP response would,
// through a real MessagePort (node:worker_threads). `RendererClient` and
// `handleAsyncError` below are dash-renderer 4.4's code (`WorkerClient.handleMessage`,
// `handleWebsocketCallback`, `actions/index.js handleAsyncError`), reduced to the lines
// that decide what the error pop-up shows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageChannel } from "node:worker_threads";

import { asHttpFailure, deliverErrorsAsHttp } from "../src/errors.js";

class RendererClient {
  constructor(port) {
    this.pending = new Map();
    this.port = port;
    port.onmessage = this.handleMessage.bind(this);
  }

  handleMessage(event) {
    const message = event.data;
    if (message.type === "callback_response") {
      const pending = this.pending.get(message.requestId);
      if (pending) {
        this.pending.delete(message.requestId);
        pending.resolve(message.payload);
      }
    }
  }

  // handleWebsocketCallback: what the renderer does with the answer.
  async callback(requestId) {
    const response = await new Promise((resolve, reject) => this.pending.set(requestId, { resolve, reject }));
    if (response.status === "prevent_update") return {};
    if (response.status === "error") throw new Error(response.message || "Callback error");
    return response.data;
  }
}

// What the renderer hands its error pop-up (onError's `error`).
async function handleAsyncError(err, message) {
  if (err && typeof err.text === "function") return { message, html: await err.text() };
  return err instanceof Error ? err : { message, html: err };
}

async function popup(channel, payload) {
  const client = new RendererClient(channel.port2);
  const answer = client.callback("r1");
  channel.port1.postMessage({ type: "callback_response", rendererId: "a", requestId: "r1", payload });
  try {
    return { ok: await answer };
  } catch (err) {
    return handleAsyncError(err, "Callback error updating out.children");
  }
}

test("without the page script the renderer titles the pop-up with the bare message", async () => {
  const channel = new MessageChannel();
  const shown = await popup(channel, { status: "error", message: "boom" });
  assert.ok(shown instanceof Error);
  assert.equal(shown.message, "boom");
  channel.port1.close();
});

test("with it, the renderer's own title over the server's traceback page", async () => {
  const channel = new MessageChannel();
  assert.equal(deliverErrorsAsHttp(channel.port2), true);
  const page = "\n    <!doctype html><html><head></head><body>ValueError: boom</body></html>";
  const shown = await popup(channel, { status: "error", message: "boom", html: page });
  assert.deepEqual(shown, { message: "Callback error updating out.children", html: page });
  channel.port1.close();
});

test("outside debug mode the body is the server's generic message", async () => {
  const channel = new MessageChannel();
  deliverErrorsAsHttp(channel.port2);
  const generic = "Callback failed; the server's log has the details.";
  const shown = await popup(channel, { status: "error", message: generic });
  assert.deepEqual(shown, { message: "Callback error updating out.children", html: generic });
  channel.port1.close();
});

test("answers that are not errors reach the renderer untouched", async () => {
  const channel = new MessageChannel();
  deliverErrorsAsHttp(channel.port2);
  const data = { multi: true, response: { out: { children: "hi" } } };
  assert.deepEqual(await popup(channel, { status: "ok", data }), { ok: data });
  assert.deepEqual(await popup(channel, { status: "prevent_update" }), { ok: {} });
  channel.port1.close();
});

test("the handler reads back as the one the renderer set", () => {
  const channel = new MessageChannel();
  deliverErrorsAsHttp(channel.port2);
  const handler = () => {};
  channel.port2.onmessage = handler;
  assert.equal(channel.port2.onmessage, handler);
  channel.port2.onmessage = null;
  assert.equal(channel.port2.onmessage, null);
  channel.port1.close();
});

test("an error answer nobody waits for is never adopted, so nothing is left rejected", () => {
  const message = asHttpFailure({ type: "callback_response", requestId: "x", payload: { status: "error", message: "m" } });
  assert.equal(typeof message.payload.then, "function");
  assert.ok(!(message.payload instanceof Promise));
  const other = { type: "set_props", payload: { status: "error" } };
  assert.equal(asHttpFailure(other), other);
  assert.equal(asHttpFailure(null), null);
});

test("an error the worker makes up when no answer can come stays an Error, as over HTTP", async () => {
  const channel = new MessageChannel();
  deliverErrorsAsHttp(channel.port2);
  const message = "Callback failed: the server did not respond.";
  const shown = await popup(channel, { status: "error", message, noResponse: true });
  assert.ok(shown instanceof Error);
  assert.equal(shown.message, message);
  channel.port1.close();
});
