/**
 * HTTP/2 defects found in review, each with the hostile input that showed it: reply
 * fields sent unchecked, resets a client provokes for free (CVE-2025-8671), SETTINGS
 * frames that make the server walk every stream many times, a server that floods the
 * client with PINGs (and does not read the answers).
 */
import assert from "node:assert/strict";
import { HttpServer, InvalidFieldError } from "../../../proto/http/mod.ts";
import {
  ACK,
  ENHANCE_YOUR_CALM,
  PING,
  PRIORITY,
  SETTINGS_INITIAL_WINDOW_SIZE,
} from "../../../proto/http/h2/constants.ts";
import { Http2Stream } from "../../../proto/http/h2/_stream.ts";
import { Http2ClientConnection } from "../../../proto/http/h2/client_connection.ts";
import { FrameWriter, readFrameHeader, readUint32 } from "../../../proto/http/h2/frames.ts";
import { Http2Error, HttpHeaders } from "../../../proto/http/mod.ts";
import { allThreads, connectTo, sleep, withTimeout } from "../../../mod.ts";
import { socketTest } from "../../net/_backends.ts";
import { H2Peer } from "./_h2_peer.ts";

socketTest("h2: malformed reply fields or status: 500, nothing sent, onError told", async () => {
  const errors: unknown[] = [];
  const server = new HttpServer({ onError: (e) => errors.push(e) });
  server.route("GET", "/crlf", (r) => r.respond(200, "x", { "x-a": "a\r\nset-cookie: evil=1" }));
  server.route("GET", "/name", (r) => r.respond(200, "x", { "Bad Name": "v" }));
  server.route("GET", "/nul", (r) => r.respond(200, "x", { "x-b": "\u0000" }));
  server.route("GET", "/pseudo", (r) => r.respond(200, "x", { ":status": "200" }));
  server.route("GET", "/status", (r) => r.respond(1000, "x"));
  server.route("GET", "/pushed", async (r) => {
    r.status = 99;
    await r.push("x");
    await r.flush();
  });
  server.listen("127.0.0.1:0");
  const peer = await H2Peer.open(server.address);
  try {
    const paths = ["/crlf", "/name", "/nul", "/pseudo", "/status", "/pushed"];
    paths.forEach((p, i) => peer.request(1 + 2 * i, p));
    await peer.flush();
    for (let i = 0; i < paths.length; i++) {
      const r = await peer.response(1 + 2 * i);
      assert.equal(r.status, 500, paths[i]);
      for (const [name, value] of r.headers) {
        assert.ok(!/[\r\n\0]/.test(name + value) && !name.includes(" "), `${paths[i]}: ${name}`);
        assert.notEqual(name, "x-a");
      }
    }
    assert.equal(errors.length, paths.length, errors.map(String).join("\n"));
    for (const e of errors) assert.ok(e instanceof InvalidFieldError, String(e));
  } finally {
    peer.close();
    await server.close();
  }
});

/** Waits (bounded) until no HTTP/2 thread is left: nothing held for a connection gone. */
async function noH2Threads(): Promise<void> {
  const h2 = () => allThreads().filter((t) => t.name.startsWith("h2 "));
  for (let i = 0; i < 200 && h2().length > 0; i++) await sleep(0.01);
  assert.equal(h2().length, 0, h2().map((t) => t.name).join(", "));
}

socketTest(
  "h2 limit: resets the client provokes (MadeYouReset) spend the reset budget",
  async () => {
    // Each way a client's frame makes the server reset a stream whose handler has started.
    const provoke: Record<string, (peer: H2Peer, id: number) => void> = {
      "WINDOW_UPDATE of 0": (peer, id) => {
        peer.request(id, "/slow");
        peer.out.windowUpdate(id, 0);
      },
      "PRIORITY of 4 bytes": (peer, id) => {
        peer.request(id, "/slow");
        peer.out.frame(PRIORITY, 0, id, new Uint8Array(4));
      },
      "DATA after END_STREAM": (peer, id) => {
        peer.request(id, "/slow");
        peer.data(id, "x");
      },
      "a body past its content-length": (peer, id) => {
        peer.request(id, "/slow", {
          method: "POST",
          end: false,
          fields: [["content-length", "1"]],
        });
        peer.data(id, "xy", true);
      },
    };
    for (const [what, frames] of Object.entries(provoke)) {
      // Streams are never refused here: only the provoked resets can spend the budget.
      const server = new HttpServer({
        onError: () => {},
        http2: { resetBurst: 100, resetRate: 10, maxConcurrentStreams: 5000 },
      });
      let started = 0;
      const slow = async () => {
        started++;
        await sleep(10);
      };
      server.route("GET", "/slow", slow);
      server.route("POST", "/slow", slow);
      server.listen("127.0.0.1:0");
      const peer = await H2Peer.open(server.address);
      try {
        for (let id = 1; id < 2 * 1000; id += 2) frames(peer, id);
        await peer.flushQuietly();
        const away = await peer.goaway();
        assert.equal(away.code, ENHANCE_YOUR_CALM, what);
        assert.ok(away.last < 2 * 1000, `${what}: ${away.last}`);
        assert.ok(started < 1000, `${what}: ${started} handlers`);
      } finally {
        peer.close();
        await server.close();
      }
      await noH2Threads();
    }
  },
);

socketTest(
  "h2 limit: INITIAL_WINDOW_SIZE repeated in a SETTINGS frame moves the streams once",
  async () => {
    const server = new HttpServer({ onError: () => {} });
    server.route("POST", "/wait", async (r) => {
      await r.body.bytes();
      await r.respond(200, "ok");
    });
    server.listen("127.0.0.1:0");
    const peer = await H2Peer.open(server.address);
    const wake = Http2Stream.prototype.wake;
    let wakes = 0;
    try {
      const streams = 20;
      for (let i = 0; i < streams; i++) {
        peer.request(1 + 2 * i, "/wait", {
          method: "POST",
          end: false,
        });
      }
      await peer.flush();
      await sleep(0.05);
      Http2Stream.prototype.wake = function (this: Http2Stream) {
        wakes++;
        wake.call(this);
      };
      // 2730 entries (a whole 16 KiB frame), alternating; the last one raises the window by 1.
      const pairs: [number, number][] = [];
      for (let i = 0; i < 2730; i++) pairs.push([SETTINGS_INITIAL_WINDOW_SIZE, 65534 + (i & 1)]);
      peer.out.settings(pairs);
      peer.out.ping(0, new Uint8Array(8));
      await peer.flush();
      await peer.until((f) => f.type === PING && (f.flags & ACK) !== 0);
      Http2Stream.prototype.wake = wake;
      // Once per stream (the old code: once per entry per stream, 27300).
      assert.ok(wakes <= 2 * streams, `${wakes} stream updates`);
      // The net change was applied: the bodies still go through, the replies come.
      for (let i = 0; i < streams; i++) peer.data(1 + 2 * i, "x", true);
      await peer.flush();
      for (let i = 0; i < streams; i++) assert.equal((await peer.response(1 + 2 * i)).status, 200);
    } finally {
      Http2Stream.prototype.wake = wake;
      peer.close();
      await server.close();
    }
    await noH2Threads();
  },
);

/**
 * A hostile HTTP/2 server on loopback: SETTINGS, then PINGs (up to `maxBytes`, until the
 * client closes). It reads what the client sends if `read`, and gives back the GOAWAY
 * codes seen in it.
 */
function pingFlooder(read: boolean, maxBytes: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const goaways: number[] = [];
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    const reading = read
      ? (async () => {
        // Frames parsed as they come; only an incomplete one is kept.
        let rest = new Uint8Array(0), preface = 24;
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          const all = new Uint8Array(rest.length + n);
          all.set(rest);
          all.set(buf.subarray(0, n), rest.length);
          let p = Math.min(preface, all.length);
          preface -= p;
          while (p + 9 <= all.length) {
            const h = readFrameHeader(all, p);
            if (p + 9 + h.length > all.length) break;
            if (h.type === 7 && h.length >= 8) goaways.push(readUint32(all, p + 13));
            p += 9 + h.length;
          }
          rest = all.slice(p);
        }
      })()
      : null;
    const pings = new FrameWriter();
    pings.settings([]);
    for (let i = 0; i < 4000; i++) pings.ping(0, new Uint8Array(8));
    const chunk = pings.take().slice();
    try {
      for (let sent = 0; sent < maxBytes; sent += chunk.length) {
        for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
      }
    } catch {
      // The client closed the connection: the flood is over.
    }
    if (reading !== null) await reading;
    conn.close();
  })();
  return { port: (listener.addr as Deno.NetAddr).port, goaways, done };
}

const GET = { method: "GET", path: "/", authority: "x", headers: new HttpHeaders(), body: null };

socketTest(
  "h2 client: a server that floods PINGs and reads nothing fails the connection",
  async () => {
    const hostile = pingFlooder(false, 256 << 20);
    const socket = await connectTo(`127.0.0.1:${hostile.port}`);
    const c = new Http2ClientConnection(socket, { maxQueuedBytes: 64 << 10, controlBurst: 1e9 });
    try {
      const inFlight = await withTimeout(10, () => c.request(GET)).catch((e) => e);
      assert.ok(inFlight instanceof Error && inFlight.name !== "TimeoutError", String(inFlight));
      assert.ok(!c.usable);
      const after = await withTimeout(10, () => c.request(GET)).catch((e) => e);
      assert.ok(after instanceof Http2Error, String(after));
      assert.equal(after.code, ENHANCE_YOUR_CALM);
    } finally {
      c.close();
      socket.close(); // (so that a failing run ends the flood too)
      await hostile.done;
    }
  },
);

socketTest(
  "h2 client: a PING flood past the control budget: GOAWAY ENHANCE_YOUR_CALM",
  async () => {
    const hostile = pingFlooder(true, 8 << 20);
    const socket = await connectTo(`127.0.0.1:${hostile.port}`);
    const c = new Http2ClientConnection(socket, { controlBurst: 1000, controlRate: 100 });
    try {
      const e = await withTimeout(10, () => c.request(GET)).catch((e) => e);
      assert.ok(e instanceof Error && e.name !== "TimeoutError", String(e));
      const after = await withTimeout(10, () => c.request(GET)).catch((e) => e);
      assert.ok(after instanceof Http2Error, String(after));
      assert.equal(after.code, ENHANCE_YOUR_CALM);
    } finally {
      c.close();
      socket.close(); // (so that a failing run ends the flood too)
      await hostile.done;
    }
    assert.ok(hostile.goaways.includes(ENHANCE_YOUR_CALM), String(hostile.goaways));
  },
);
