// What the socket tests (test/) share: just enough of a WebSocket server to talk to the worker's
// socket over real TCP (the upgrade, the client's masked frames, text frames back), and
// the run of a scenario in a child Node with its WebSocket client. Not a test itself:
// the test files import it, and so do the scripts they run in child processes.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import net from "node:net";

/** This module's URL, for the scripts run in a child process to import it. */
export const FAKE_SERVER = import.meta.url;

/**
 * The handshake at the start of `buffer`: `null` while its headers are incomplete,
 * `{ok: false}` when it names no key (drop the connection), else `{ok: true, reply, rest}`:
 * the 101 answer to write and the bytes after the headers.
 */
export function upgrade(buffer) {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const key = /sec-websocket-key:\s*(\S+)/i.exec(String(buffer.subarray(0, end)));
  if (!key) return { ok: false };
  const accept = createHash("sha1")
    .update(key[1] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  const reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n";
  return { ok: true, reply, rest: buffer.subarray(end + 4) };
}

/** A server on 127.0.0.1 that answers every WebSocket upgrade (a request without a key
 *  is dropped) and hands the open connection to `opened(conn)`: `{server, url}`. */
export async function serve(opened) {
  const server = net.createServer((conn) => {
    conn.once("data", (head) => {
      const handshake = upgrade(head);
      if (!handshake?.ok) return conn.destroy();
      conn.write(handshake.reply);
      opened(conn);
    });
    conn.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: "ws://127.0.0.1:" + server.address().port + "/ws" };
}

/** The text messages of the complete client frames (masked, unfragmented) at the start
 *  of `buffer`, and the bytes left after them. */
export function readFrames(buffer) {
  const texts = [];
  while (buffer.length >= 2) {
    let length = buffer[1] & 127;
    let offset = 2;
    if (length === 126) { length = buffer.readUInt16BE(2); offset = 4; }
    else if (length === 127) { length = Number(buffer.readBigUInt64BE(2)); offset = 10; }
    if (buffer.length < offset + 4 + length) break;
    const mask = buffer.subarray(offset, offset + 4);
    const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
    for (let i = 0; i < payload.length; i += 1) payload[i] ^= mask[i % 4];
    const opcode = buffer[0] & 15;
    buffer = buffer.subarray(offset + 4 + length);
    if (opcode === 1) texts.push(payload.toString("utf8"));
  }
  return { texts, rest: buffer };
}

/** A server's (unmasked) text frame. */
export function textFrame(text) {
  const payload = Buffer.from(text);
  const head = payload.length < 126 ? Buffer.from([0x81, payload.length])
    : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([head, payload]);
}

/** Run `script` (an ES module's text that prints its result as JSON on its last line)
 *  in a child Node with its WebSocket client (--experimental-websocket, Node 20); the
 *  result. */
export function runScript(script) {
  const out = execFileSync(process.execPath,
    ["--experimental-websocket", "--no-warnings", "--input-type=module", "-e", script],
    { encoding: "utf8", timeout: 30000 });
  return JSON.parse(out.trim().split("\n").pop());
}
