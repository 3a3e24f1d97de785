// Cookies and headers a WebSocket callback set (Dash's ctx.response.set_cookie, ...).
// A socket frame carries no headers, so the server keeps them and puts a one-time token
// in the callback's response ("quartdash_handover"). Before Dash's renderer sees that
// response, this redeems the token with a same-origin POST whose answer carries the
// headers (Set-Cookie among them): the cookie is in the browser's jar before the
// callback's outputs reach the page, as over HTTP. Messages that arrive meanwhile wait
// behind it, so nothing overtakes anything. (Server side: quartdash/transport/handover.py.)

/** The field of a callback_response that holds the token. */
export const HANDOVER_FIELD = "quartdash_handover";
/** How long one redeem may take before the response is let through without it. */
export const REDEEM_TIMEOUT = 10000;

/** The token a worker message carries, or null. */
export function tokenOf(message) {
  if (!message || typeof message !== "object" || message.type !== "callback_response") return null;
  const token = message[HANDOVER_FIELD];
  return typeof token === "string" && token.length > 0 && token.length <= 100 ? token : null;
}

/** POST the token to `url`; resolves (never rejects) once the answer is in. */
export const redeem = async (url, token, fetchImpl = null, log = console) => {
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), REDEEM_TIMEOUT) : null;
  try {
    // The page's fetch as it is now: an app may wrap it (to add a header, say).
    const response = await (fetchImpl || fetch)(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      signal: controller ? controller.signal : undefined,
    });
    if (response.status !== 204) {
      log.warn(`[quartdash] the cookies and headers of a callback were not taken: HTTP ${response.status}`);
    }
  } catch (err) {
    log.warn("[quartdash] the cookies and headers of a callback were not taken:", err);
  } finally {
    if (timer) clearTimeout(timer);
  }
};

/**
 * Put a gate on `port` (a MessagePort), ahead of every other listener: a message with a
 * token is held, with all that follows it, until the token is redeemed; then each is
 * dispatched again on the port, in order, for the other listeners (the renderer's).
 * Must be called before anyone else listens on the port.
 */
export function gatePort(port, url, fetchImpl = null, log = console) {
  if (!url) return;
  const queue = []; // {data, token}
  const replayed = new WeakSet();
  let draining = false;

  async function drain() {
    draining = true;
    try {
      while (queue.length) {
        const { data, token } = queue.shift();
        if (token) await redeem(url, token, fetchImpl, log);
        const event = new MessageEvent("message", { data });
        replayed.add(event);
        port.dispatchEvent(event);
      }
    } finally {
      draining = false;
    }
  }

  port.addEventListener("message", (event) => {
    if (replayed.has(event)) return;
    const token = tokenOf(event.data);
    if (!draining && !token) return;
    event.stopImmediatePropagation();
    queue.push({ data: event.data, token });
    if (!draining) drain();
  });
}
