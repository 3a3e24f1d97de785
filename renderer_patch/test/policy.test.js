import assert from "node:assert/strict";
import { test } from "node:test";

import { readdirSync, readFileSync } from "node:fs";

import {
  afterClose, backoff, closeNotice, Code, DEFAULT_POLICY, effectiveClose, noticeText,
  PROTOCOL_VERSION, Reason, ServerCode,
} from "../src/policy.js";

/** The server's side of the protocol, as text: quartdash/transport/protocol.py. */
const PROTOCOL = readFileSync(new URL("../../quartdash/transport/protocol.py", import.meta.url), "utf8");

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

test("server error, drops: retry with growing, capped, jittered delay", () => {
  // 1001 and 1012 (a restart) have their own first delay: test/going_away.test.js.
  for (const code of [Code.INTERNAL_ERROR, Code.TRY_AGAIN_LATER, Code.ABNORMAL, Code.NO_STATUS, Code.HEARTBEAT_TIMEOUT]) {
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

test("the reasons match the server's (quartdash/transport/protocol.py)", () => {
  assert.ok(PROTOCOL.includes(`CONNECTION_CLOSED = "${Reason.CONNECTION_CLOSED}"`));
  assert.ok(PROTOCOL.includes(`SIGNED_OUT = "${Reason.SIGNED_OUT}"`));
  assert.ok(PROTOCOL.includes(`NOT_LOGGED_IN = "${Reason.NOT_LOGGED_IN}"`));
});

/** `NAME = value` of each member of `class name(...)` in protocol.py, in order. */
function pythonEnum(name) {
  const start = PROTOCOL.indexOf(`\nclass ${name}(`);
  assert.ok(start >= 0, `class ${name} not found in protocol.py`);
  const body = PROTOCOL.slice(start + 1).split(/\n(?=\S)/)[0]; // up to the next unindented line
  return Object.fromEntries(
    Array.from(body.matchAll(/^ {4}([A-Z][A-Z0-9_]*) = (\d+)$/gm), ([, key, value]) => [key, Number(value)]));
}

test("the close codes the server sends are exactly quartdash.CloseCode's, names and values", () => {
  const server = pythonEnum("CloseCode");
  assert.ok(Object.keys(server).length >= 10, `CloseCode read as ${JSON.stringify(server)}`);
  assert.deepEqual({ ...ServerCode }, server);
  // The codes only the browser meets are not the server's, by name or by value.
  const values = new Set(Object.values(server));
  for (const [name, code] of Object.entries(Code)) {
    if (name in server) assert.equal(code, server[name], name);
    else assert.ok(!values.has(code), `${name} (${code}) is one of quartdash.CloseCode's values`);
  }
});

test("one protocol version, the server's (quartdash.transport.protocol.PROTOCOL_VERSION)", () => {
  const match = /^PROTOCOL_VERSION = (\d+)$/m.exec(PROTOCOL);
  assert.ok(match, "PROTOCOL_VERSION not found in protocol.py");
  assert.equal(PROTOCOL_VERSION, Number(match[1]));
  // Every message the browser side builds takes its version from that constant.
  const src = new URL("../src/", import.meta.url);
  for (const file of readdirSync(src).filter((name) => name.endsWith(".js"))) {
    const text = readFileSync(new URL(file, src), "utf8");
    assert.doesNotMatch(text, /\bv\s*:\s*\d/, `${file} writes a protocol version as a literal`);
    assert.doesNotMatch(text, /\.v\s*[<>=!]=*\s*\d/, `${file} compares a protocol version to a literal`);
  }
});
