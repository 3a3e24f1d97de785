// A failed WebSocket callback, shown by Dash's renderer as it shows a failed HTTP one.
//
// Dash's renderer (dash-renderer 4.4) shows a failed HTTP callback as "Callback error
// updating <outputs>" (or "Callback error with no output from input <inputs>") above
// the server's answer: in debug mode Dash's traceback page. A failed WebSocket callback
// it shows otherwise: `handleWebsocketCallback` throws `new Error(message)`, so the
// pop-up's title is the bare message, the renderer's own JavaScript stack sits below
// it, and there is no traceback. The renderer's worker client resolves a pending
// request with the message's payload; a payload that is a thenable rejecting with a
// failed HTTP response makes that request fail exactly as a failed `fetch` does, and
// the renderer then titles and renders it itself. The server sends the traceback page
// as `payload.html` in debug mode only; otherwise the body is its generic message.
// An error the worker makes up because no answer can come (`payload.noResponse`) stays
// as it is: the renderer throws it as an `Error`, as it does when a `fetch` gets no
// response ("Callback failed: the server did not respond.").

/** The status of Dash's HTTP answer for a callback that raised. */
const FAILED = 500;

/** What the renderer reads of a failed `fetch` response: its status and its text. */
export function failedResponse(body) {
  return { ok: false, status: FAILED, text: () => Promise.resolve(body) };
}

/**
 * `message` as the renderer should get it: an error `callback_response` gets, in place
 * of its payload, a thenable that rejects with a failed HTTP response whose body is the
 * server's traceback page (`payload.html`) or its message. Anything else, and an error
 * marked `noResponse`, is returned as it is. A thenable, not a rejected promise: if no request waits for the answer, it is
 * never adopted and nothing is reported as an unhandled rejection.
 */
export function asHttpFailure(message) {
  if (!message || typeof message !== "object" || message.type !== "callback_response") {
    return message;
  }
  const payload = message.payload;
  if (!payload || typeof payload !== "object" || payload.status !== "error" || payload.noResponse === true) {
    return message;
  }
  const body = typeof payload.html === "string" ? payload.html : String(payload.message || "Callback error");
  const failure = failedResponse(body);
  return {
    ...message,
    payload: {
      then(_resolve, reject) {
        reject(failure);
      },
    },
  };
}

/**
 * Make the handler the renderer sets as `port.onmessage` see `asHttpFailure(event.data)`.
 * Installed on the port before the renderer sets its handler; listeners added with
 * `addEventListener` (the page script's own) still see the message as it came.
 * Returns false, changing nothing, when the port has no `onmessage` to wrap.
 */
export function deliverErrorsAsHttp(port) {
  let native = null;
  for (let o = port; o && !native; o = Object.getPrototypeOf(o)) {
    native = Object.getOwnPropertyDescriptor(o, "onmessage") || null;
  }
  if (!native || typeof native.set !== "function") return false;
  let handler = null;
  Object.defineProperty(port, "onmessage", {
    configurable: true,
    enumerable: true,
    get() {
      return handler;
    },
    set(fn) {
      handler = fn;
      const wrapped = typeof fn === "function"
        ? function onmessage(event) {
          const data = asHttpFailure(event.data);
          return fn.call(this, data === event.data ? event : { type: event.type, data, target: event.target });
        }
        : fn;
      native.set.call(port, wrapped);
    },
  });
  return true;
}
