// What the browser does after its socket closes, per close code (the README's "The browser side" and `quartdash.CloseCode`).
// Pure: no timers, no sockets, no DOM, so every rule is tested under Node.

/** Version of quartdash's additions to Dash's protocol (quartdash/transport/protocol.py). */
export const PROTOCOL_VERSION = 1;

/** The close codes the server sends: exactly `quartdash.CloseCode`, names and values
 *  (test/policy.test.js reads quartdash/transport/protocol.py to check it). */
export const ServerCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  INACTIVITY: 4001,
  SESSION_ENDED: 4401,
  SESSION_EXPIRED: 4408,
  RATE_LIMITED: 4429,
});

/** The close codes the worker tells apart: the server's, and those it meets without
 *  the server choosing them: a close with no code (1005) or no close frame at all
 *  (1006), a restart by another server (1012), and its own heartbeat timeout (4000). */
export const Code = Object.freeze({
  ...ServerCode,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  SERVICE_RESTART: 1012,
  HEARTBEAT_TIMEOUT: 4000,
});

export const DEFAULT_POLICY = Object.freeze({
  /** First delay after a drop or a restart, doubled per failed attempt up to maxDelay. */
  initialDelay: 1000,
  maxDelay: 30000,
  /** After 4429 the server asked us to slow down: start high, stay high. */
  rateLimitedDelay: 15000,
  rateLimitedMaxDelay: 120000,
  /** A socket that stayed open this long resets the attempt count: a server that
   *  accepts and at once closes again must not be hammered at the first delay. */
  stableAfter: 5000,
  /** After 1001 (a worker stopping: a deploy) the first retry comes at a uniformly random
   *  moment in [goingAwayMinDelay, goingAwayMaxDelay]: whatever the server does (all at
   *  once or drained over drain_seconds), no interval of t ms sees more than
   *  t / (max - min) of that worker's pages come back (3.6 % per 100 ms). The maximum
   *  stays under CALLBACK_WAIT (socket.js, 5 s): a callback the user fires just after
   *  the 1001 is still served once the socket is back. */
  goingAwayMinDelay: 250,
  goingAwayMaxDelay: 3000,
});

/**
 * The delay before attempt number `attempt` (0 for the first retry): exponential with
 * "equal jitter", half fixed and half random, so tabs of many browsers that lost the
 * same server do not come back in one wave, and none retries at once.
 */
export function backoff(attempt, base, cap, random = Math.random) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The delay after a 1001 (the server is stopping, most often a deploy; 1012 from
 * another server means the same): uniform over
 * [goingAwayMinDelay, goingAwayMaxDelay], so the pages of a stopping worker spread their
 * reconnects over that window instead of landing on the other workers in one wave. A
 * 1001 after failed attempts (the page met a second stopping worker) waits at least the
 * usual backoff too.
 */
export function goingAwayDelay(attempt, policy = DEFAULT_POLICY, random = Math.random) {
  const low = policy.goingAwayMinDelay;
  const spread = Math.round(low + random() * Math.max(0, policy.goingAwayMaxDelay - low));
  if (attempt <= 0) return spread;
  return Math.max(spread, backoff(attempt, policy.initialDelay, policy.maxDelay, random));
}

/**
 * The decision after a close with `code`:
 *  - {action: "idle"}: the page's own close or Dash's inactivity close; reconnect on
 *    the next message the page sends (Dash's behaviour for 1000 and 4001);
 *  - {action: "retry", delay}: reconnect by itself after `delay` ms;
 *  - {action: "final", kind}: never reconnect; kind "session" (signed out or expired:
 *    the page shows a notice and goes to login_url) or "refused" (the server refused
 *    this page's traffic: retrying would be refused again).
 */
export function afterClose(code, attempt, policy = DEFAULT_POLICY, random = Math.random) {
  switch (code) {
    case Code.NORMAL:
    case Code.INACTIVITY:
      return { action: "idle" };
    case Code.SESSION_ENDED:
    case Code.SESSION_EXPIRED:
      return { action: "final", kind: "session" };
    case Code.UNSUPPORTED_DATA:
    case Code.POLICY_VIOLATION:
    case Code.MESSAGE_TOO_BIG:
      return { action: "final", kind: "refused" };
    case Code.GOING_AWAY:
    case Code.SERVICE_RESTART:
      return { action: "retry", delay: goingAwayDelay(attempt, policy, random) };
    case Code.RATE_LIMITED:
      return {
        action: "retry",
        delay: backoff(attempt, policy.rateLimitedDelay, policy.rateLimitedMaxDelay, random),
      };
    default: // 1011, 1013, 4000, and drops without a close frame (1005, 1006)
      return {
        action: "retry",
        delay: backoff(attempt, policy.initialDelay, policy.maxDelay, random),
      };
  }
}

/**
 * The code that counts: a close frame can be lost (a proxy, a dropped connection) and
 * arrive as 1005/1006, so the reason the server announced just before closing
 * (a "quartdash_close" message) wins over a close without a status.
 */
export function effectiveClose(event, announced) {
  const lost = event.code === Code.ABNORMAL || event.code === Code.NO_STATUS;
  if (announced && (lost || announced.code === event.code)) {
    return { code: announced.code, reason: announced.reason || event.reason || "" };
  }
  return { code: event.code, reason: event.reason || "" };
}

/**
 * The reasons of a 4401 that mean something else than "signed out" (quartdash/transport/protocol.py).
 * 4401 closes every socket that must not come back by itself, so the code alone cannot
 * say whether the login still holds; the reason can.
 */
export const Reason = Object.freeze({
  /** An administrator closed this socket (or everyone's): the login is still valid. */
  CONNECTION_CLOSED: "connection closed by an administrator",
  /** An administrator ended (and revoked) this session. */
  SIGNED_OUT: "signed out by an administrator",
  /** The handshake carried no valid login: this page was never signed in, or no more. */
  NOT_LOGGED_IN: "not logged in",
});

/** The administrator's own words after `kind` ("kind: words"); null when `reason` is
 *  not of that kind, "" when it is but has no words. */
function adminWords(reason, kind) {
  if (reason === kind) return "";
  return reason.startsWith(`${kind}: `) ? reason.slice(kind.length + 2).trim() : null;
}

/**
 * What the page says after a final close, and what it offers:
 *  - signIn: the login is gone (signed out, expired, or never there): a "Sign in" link,
 *    and the tab goes to login_url;
 *  - reload: the login still holds (an administrator closed only the connection): a
 *    "Reload" link, and the tab stays where it is, since a reload is signed in again.
 * `link` is the link's words, null for none.
 */
export function closeNotice(code, reason) {
  const text = typeof reason === "string" ? reason : "";
  if (code === Code.SESSION_EXPIRED) {
    return { text: "Your session expired.", signIn: true, link: "Sign in again" };
  }
  if (code === Code.SESSION_ENDED) {
    const closed = adminWords(text, Reason.CONNECTION_CLOSED);
    if (closed !== null) {
      const why = closed ? ` (${closed})` : "";
      return {
        text: `The administrator closed this connection${why}. Reload the page to continue.`,
        signIn: false, link: "Reload",
      };
    }
    if (text === Reason.NOT_LOGGED_IN) return { text: "Please sign in.", signIn: true, link: "Sign in" };
    const ended = adminWords(text, Reason.SIGNED_OUT);
    if (ended !== null) {
      const why = ended ? ` (${ended})` : "";
      return { text: `The administrator signed you out${why}.`, signIn: true, link: "Sign in again" };
    }
    return { text: "You were signed out.", signIn: true, link: "Sign in again" };
  }
  const why = text ? `: ${text}` : "";
  return {
    text: `The server closed the connection (${code}${why}). Reload the page to continue.`,
    signIn: false, link: "Reload",
  };
}

/** The words the page shows for a final close. */
export function noticeText(code, reason) {
  return closeNotice(code, reason).text;
}
