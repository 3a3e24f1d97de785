import assert from "node:assert/strict";
import { test } from "node:test";

import {
  afterClose, backoff, closeNotice, Code, DEFAULT_POLICY, effectiveClose, noticeText, Reason,
} from "../src/policy.js";

const half = () => 0.5;

test("signed out, expired: final, never reconnect, whatever the attempt", () => {
  for (const code of [Code.SESSION_ENDED, Code.SESSION_EXPIRED]) {
    for (const attempt of [0, 1, 9, 100]) {
      assert.deepEqual(afterClose(code, attempt), { action: "final", kind: "session" });
    }
  }
});

test("refused traffic (1003, 1008, 1009): final", () => {
  for (const code of [Code.UNSUPPORTED_DATA, Code.POLICY_VIOLATION, Code.MESSAGE_TOO_BIG]) {
    assert.deepEqual(afterClose(code, 0), { action: "final", kind: "refused" });
  }
});

test("the page's own close and Dash's idle close: reconnect on next use only", () => {
  assert.deepEqual(afterClose(Code.NORMAL, 0), { action: "idle" });
  assert.deepEqual(afterClose(Code.INACTIVITY, 3), { action: "idle" });
});

test("restart, server error, drops: retry with growing, capped, jittered delay", () => {
  for (const code of [Code.GOING_AWAY, Code.INTERNAL_ERROR, Code.SERVICE_RESTART,
    Code.TRY_AGAIN_LATER, Code.ABNORMAL, Code.NO_STATUS, Code.HEARTBEAT_TIMEOUT]) {
    const delays = [0, 1, 2, 3, 10, 50].map((n) => afterClose(code, n, DEFAULT_POLICY, half));
    for (const d of delays) assert.equal(d.action, "retry");
    const ms = delays.map((d) => d.delay);
    assert.deepEqual(ms, [750, 1500, 3000, 6000, 22500, 22500]);
  }
});

test("4429 waits long: at least 7.5 s even at the first retry, capped at 2 min", () => {
  const low = afterClose(Code.RATE_LIMITED, 0, DEFAULT_POLICY, () => 0);
  const high = afterClose(Code.RATE_LIMITED, 30, DEFAULT_POLICY, () => 0.999999);
  assert.equal(low.action, "retry");
  assert.equal(low.delay, 7500);
  assert.ok(high.delay <= 120000 && high.delay > 119000);
});

test("jitter spreads the delay over [ceiling/2, ceiling]", () => {
  assert.equal(backoff(0, 1000, 30000, () => 0), 500);
  assert.equal(backoff(0, 1000, 30000, () => 1), 1000);
  const seen = new Set(Array.from({ length: 200 }, () => backoff(2, 1000, 30000)));
  assert.ok(seen.size > 50, "random delays differ");
  for (const d of seen) assert.ok(d >= 2000 && d <= 4000);
});

test("an announced close wins over a lost close frame, not over a different real one", () => {
  const announced = { code: 4401, reason: "logged out" };
  assert.deepEqual(effectiveClose({ code: 1006, reason: "" }, announced), announced);
  assert.deepEqual(effectiveClose({ code: 1005, reason: "" }, announced), announced);
  assert.deepEqual(effectiveClose({ code: 4401, reason: "" }, announced), announced);
  assert.deepEqual(effectiveClose({ code: 1001, reason: "bye" }, announced), { code: 1001, reason: "bye" });
  assert.deepEqual(effectiveClose({ code: 1006, reason: "" }, null), { code: 1006, reason: "" });
});

test("notice words", () => {
  assert.equal(noticeText(4401, "logged out"), "You were signed out.");
  assert.equal(noticeText(4408, ""), "Your session expired.");
  assert.match(noticeText(1009, "frame larger than 10 bytes"), /1009: frame larger than 10 bytes/);
});

test("signed out, expired, never signed in: the words, a sign-in link, and the login page", () => {
  for (const reason of ["logged out", "signed in as another user", "session revoked", "", undefined]) {
    assert.deepEqual(closeNotice(4401, reason),
      { text: "You were signed out.", signIn: true, link: "Sign in again" });
  }
  assert.deepEqual(closeNotice(4408, "session expired"),
    { text: "Your session expired.", signIn: true, link: "Sign in again" });
  assert.deepEqual(closeNotice(4401, "not logged in"),
    { text: "Please sign in.", signIn: true, link: "Sign in" });
  assert.deepEqual(closeNotice(4401, "signed out by an administrator"),
    { text: "The administrator signed you out.", signIn: true, link: "Sign in again" });
  assert.equal(closeNotice(4401, "signed out by an administrator: account locked").text,
    "The administrator signed you out (account locked).");
});

test("an administrator's close of the connection alone: no 'signed out', no login page", () => {
  const plain = closeNotice(4401, "connection closed by an administrator");
  assert.deepEqual(plain, {
    text: "The administrator closed this connection. Reload the page to continue.",
    signIn: false, link: "Reload",
  });
  const worded = closeNotice(4401, "connection closed by an administrator: maintenance");
  assert.equal(worded.text, "The administrator closed this connection (maintenance). Reload the page to continue.");
  assert.equal(worded.signIn, false);
  assert.doesNotMatch(worded.text, /signed out/i);
  // The kind is read at the start only, and whole: words that merely mention it do not
  // turn a sign-out into a connection close.
  assert.equal(closeNotice(4401, "connection closed by an administrators").signIn, true);
  assert.equal(closeNotice(4401, "x: connection closed by an administrator").signIn, true);
  // The same reason with another final code is the server's refusal, worded as such.
  assert.equal(closeNotice(1008, Reason.CONNECTION_CLOSED).signIn, false);
  assert.match(closeNotice(1008, Reason.CONNECTION_CLOSED).text, /\(1008: connection closed/);
});

test("the reasons match the server's (quartdash/transport/protocol.py)", async () => {
  const { readFileSync } = await import("node:fs");
  const protocol = readFileSync(new URL("../../quartdash/transport/protocol.py", import.meta.url), "utf8");
  assert.ok(protocol.includes(`CONNECTION_CLOSED = "${Reason.CONNECTION_CLOSED}"`));
  assert.ok(protocol.includes(`SIGNED_OUT = "${Reason.SIGNED_OUT}"`));
  assert.ok(protocol.includes(`NOT_LOGGED_IN = "${Reason.NOT_LOGGED_IN}"`));
});
