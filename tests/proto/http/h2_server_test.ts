/**
 * The HTTP/2 side of HttpServer, spoken to by a hand-written peer (exact frames): requests
 * on many streams, resets, errors, flow control, trailers, 100-continue, graceful
 * shutdown, and the hostile peers each limit is for, ending in GOAWAY with its code.
 */
import assert from "node:assert/strict";
import { allThreads, Latch, sleep, TimeoutError, withTimeout } from "../../../mod.ts";
import { fetchHandler, HttpServer, type HttpServerOptions } from "../../../proto/http/mod.ts";
import {
  CANCEL,
  ENHANCE_YOUR_CALM,
  INTERNAL_ERROR,
  NO_ERROR,
  PING,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  RST_STREAM,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_TIMEOUT,
} from "../../../proto/http/h2/constants.ts";
import { Http2Request, StreamResetError } from "../../../proto/http/mod.ts";
import { socketTest, text } from "../../net/_backends.ts";
import { prng } from "../../_helpers.ts";
import { CONTINUATION, END_HEADERS, H2Peer, HEADERS } from "./_h2_peer.ts";

/** A server with routes for the tests below; closed by the caller. */
function h2Server(options: HttpServerOptions = {}): HttpServer {
  const server = new HttpServer({ onError: () => {}, ...options });
  server.route(
    "GET",
    "/hello/:name",
    (r) => r.respond(200, `hello ${r.params.name} ${r.version}\n`),
  );
  server.route("POST", "/echo", async (r) => {
    const body = await r.body.bytes();
    const trailers = r.body.trailers.map(([n, v]) => `${n}=${v}`).join(",");
    await r.respond(200, body, { "x-trailers": trailers });
  });
  server.route("GET", "/big/:kb", async (r) => {
    const kb = Number(r.params.kb);
    for (let i = 0; i < kb; i++) await r.push("x".repeat(1023) + "\n");
  });
  server.route("GET", "/trailers", async (r) => {
    if (r instanceof Http2Request) r.replyTrailers.set("x-sum", "42");
    await r.push("body");
  });
  server.route("GET", "/fail", () => {
    throw new Error("handler bug");
  });
  server.route("GET", "/fail-late", async (r) => {
    await r.push("partial");
    await r.flush();
    throw new Error("handler bug after the head");
  });
  server.listen("127.0.0.1:0");
  return server;
}

/** Threads of the server's HTTP/2 streams and writers still alive. */
function h2Threads(): number {
  return allThreads().filter((t) => t.name.startsWith("h2 ")).length;
}

/** Waits (bounded) until no HTTP/2 thread is left: nothing held for a connection gone. */
async function noH2Threads(): Promise<void> {
  for (let i = 0; i < 200 && h2Threads() > 0; i++) await sleep(0.01);
  assert.equal(h2Threads(), 0, allThreads().map((t) => t.name).join(", "));
}

socketTest("h2: requests on many streams of one connection, by prior knowledge", async () => {
  const server = h2Server();
  const peer = await H2Peer.open(server.address);
  try {
    for (let id = 1; id <= 19; id += 2) peer.request(id, `/hello/s${id}`);
    await peer.flush();
    for (let id = 1; id <= 19; id += 2) {
      const r = await peer.response(id);
      assert.equal(r.status, 200);
      assert.equal(text(r.body), `hello s${id} HTTP/2\n`);
      assert.equal(r.headers.get("content-length"), String(r.body.length));
    }
    peer.request(21, "/missing");
    peer.request(23, "/echo", { method: "POST", end: false, fields: [["content-length", "5"]] });
    peer.data(23, "abcde", true);
    await peer.flush();
    assert.equal((await peer.response(21)).status, 404);
    const echo = await peer.response(23);
    assert.equal(text(echo.body), "abcde");
    assert.equal(server.statistics().requests, 12);
  } finally {
    peer.close();
    await server.close();
  }
  await noH2Threads();
});

socketTest("h2: RST_STREAM interrupts that stream's thread with StreamResetError", async () => {
  const seen = new Latch<unknown>();
  const server = h2Server();
  server.route("POST", "/wait", async (r) => {
    try {
      await r.body.read();
    } catch (e) {
      seen.release(e);
      throw e;
    }
  });
  const peer = await H2Peer.open(server.address);
  try {
    peer.request(1, "/wait", { method: "POST", end: false });
    await peer.flush();
    await sleep(0.05);
    peer.out.rstStream(1, CANCEL);
    peer.request(3, "/hello/other");
    await peer.flush();
    const e = await seen.wait();
    assert.ok(e instanceof StreamResetError, String(e));
    assert.equal((e as StreamResetError).code, CANCEL);
    const other = await peer.response(3);
    assert.equal(text(other.body), "hello other HTTP/2\n");
  } finally {
    peer.close();
    await server.close();
  }
  await noH2Threads();
});

socketTest("h2: a handler that throws answers 500 on its stream, or resets only it", async () => {
  const server = h2Server();
  const peer = await H2Peer.open(server.address);
  try {
    peer.request(1, "/fail");
    peer.request(3, "/fail-late");
    peer.request(5, "/hello/fine");
    await peer.flush();
    assert.equal((await peer.response(1)).status, 500);
    const late = await peer.response(3);
    assert.equal(late.status, 200);
    assert.equal(late.reset, INTERNAL_ERROR);
    assert.equal(text((await peer.response(5)).body), "hello fine HTTP/2\n");
  } finally {
    peer.close();
    await server.close();
  }
});

socketTest(
  "h2: a slow reader stalls only its own stream; its reply completes as it reads",
  async () => {
    const server = h2Server();
    // Stream windows of 1000 bytes: /big/64 needs 64 windows, /hello needs one.
    const peer = await H2Peer.open(server.address, [[SETTINGS_INITIAL_WINDOW_SIZE, 1000]]);
    try {
      peer.request(1, "/big/64");
      peer.request(3, "/hello/quick");
      await peer.flush();
      const quick = await peer.response(3, { credit: false });
      assert.equal(text(quick.body), "hello quick HTTP/2\n");
      // Stream 1 sends its first window, then nothing until it is given more.
      const first = await peer.until((f) => f.stream === 1 && f.type === 0);
      assert.equal(first[first.length - 1].payload.length, 1000);
      await assert.rejects(() => peer.frame(0.1), TimeoutError);
      peer.out.windowUpdate(1, 1000);
      peer.out.windowUpdate(0, 1000);
      const big = await peer.response(1, { credit: true });
      assert.equal(big.body.length + 1000, 64 * 1024);
    } finally {
      peer.close();
      await server.close();
    }
  },
);

socketTest(
  "h2: a handler slow to read its body holds back only its own stream's upload",
  async () => {
    const server = h2Server();
    const reading = new Latch<void>();
    server.route("POST", "/later", async (r) => {
      await reading.wait();
      const body = await r.body.bytes();
      await r.respond(200, String(body.length));
    });
    const peer = await H2Peer.open(server.address);
    try {
      // Stream 1 fills its 65535-byte window; its handler does not read yet.
      peer.request(1, "/later", { method: "POST", end: false });
      peer.data(1, new Uint8Array(16384));
      peer.data(1, new Uint8Array(16384));
      peer.data(1, new Uint8Array(16384));
      peer.data(1, new Uint8Array(16383));
      // Stream 3 uploads 200 KB meanwhile: the connection window is not held by stream 1.
      peer.request(3, "/echo", { method: "POST", end: false });
      await peer.flush();
      let sent = 0;
      const windows = new Map<number, number>([[3, 65535]]);
      let connection = 1 << 20;
      while (sent < 200_000) {
        const n = Math.min(16384, 200_000 - sent, windows.get(3)!, connection);
        if (n > 0) {
          peer.data(3, new Uint8Array(n).fill(7), sent + n === 200_000);
          sent += n;
          windows.set(3, windows.get(3)! - n);
          connection -= n;
          await peer.flush();
          continue;
        }
        const f = await peer.frame();
        assert.ok(f !== null);
        if (f.type === 8) {
          const increment = new DataView(f.payload.buffer).getUint32(0);
          if (f.stream === 0) connection += increment;
          else windows.set(f.stream, (windows.get(f.stream) ?? 0) + increment);
        }
        // No window for stream 1 while its handler has not read.
        assert.ok(!(f.type === 8 && f.stream === 1), "stream 1 got window it did not free");
      }
      const echo = await peer.response(3);
      assert.equal(echo.body.length, 200_000);
      // Once its handler reads, stream 1 ends.
      reading.release();
      peer.data(1, new Uint8Array(0), true);
      await peer.flush();
      const late = await peer.response(1);
      assert.equal(text(late.body), String(65535));
    } finally {
      peer.close();
      await server.close();
    }
  },
);

socketTest("h2: trailers both ways, 100-continue, request bodies streamed in pieces", async () => {
  const server = h2Server();
  const peer = await H2Peer.open(server.address);
  try {
    peer.request(1, "/echo", {
      method: "POST",
      end: false,
      fields: [["expect", "100-continue"]],
    });
    await peer.flush();
    // 100 comes when the handler first reads; then the body goes in pieces.
    const interim = await peer.until((f) => f.stream === 1 && f.type === HEADERS);
    assert.equal(interim.length > 0, true);
    for (let i = 0; i < 5; i++) peer.data(1, `part${i};`);
    peer.out.headers(1, peer.encoder.encode(["x-check", "ok"]), 1, /* END_STREAM */ 16384);
    await peer.flush();
    const echo = await peer.response(1);
    assert.equal(text(echo.body), "part0;part1;part2;part3;part4;");
    assert.equal(echo.headers.get("x-trailers"), "x-check=ok");
    peer.request(3, "/trailers");
    await peer.flush();
    const t = await peer.response(3);
    assert.equal(text(t.body), "body");
    assert.equal(t.trailers.get("x-sum"), "42");
  } finally {
    peer.close();
    await server.close();
  }
});

socketTest("h2: close() sends GOAWAY and lets the stream in flight finish", async () => {
  const server = h2Server();
  const release = new Latch<void>();
  server.route("GET", "/slow", async (r) => {
    await release.wait();
    await r.respond(200, "finished\n");
  });
  const peer = await H2Peer.open(server.address);
  peer.request(1, "/slow");
  await peer.flush();
  await sleep(0.05);
  const { spawn } = await import("../../../mod.ts");
  const closing = spawn(() => server.close());
  try {
    const away = await peer.goaway();
    assert.equal(away.code, NO_ERROR);
    assert.equal(away.last, 1);
    release.release();
    const r = await peer.response(1);
    assert.equal(text(r.body), "finished\n");
    await closing.join();
  } finally {
    peer.close();
  }
  await noH2Threads();
});

// ---- Hostile peers: each limit ends in GOAWAY with its code, nothing left behind. ----

socketTest(
  "h2 limit: streams past max concurrent are refused, then the flood ends it",
  async () => {
    const server = h2Server({ http2: { maxConcurrentStreams: 4, resetBurst: 20, resetRate: 1 } });
    const hold = new Latch<void>();
    server.route("GET", "/hold", async (r) => {
      await hold.wait();
      await r.respond(200, "ok");
    });
    const peer = await H2Peer.open(server.address);
    try {
      for (let id = 1; id <= 9; id += 2) peer.request(id, "/hold");
      await peer.flush();
      const refused = await peer.until((f) => f.type === RST_STREAM);
      const last = refused[refused.length - 1];
      assert.equal(last.stream, 9);
      assert.equal(new DataView(last.payload.buffer).getUint32(0), REFUSED_STREAM);
      for (let id = 11; id < 11 + 2 * 100; id += 2) peer.request(id, "/hold");
      await peer.flush();
      const away = await peer.goaway();
      assert.equal(away.code, ENHANCE_YOUR_CALM);
      assert.match(away.debug, /refused or reset/);
    } finally {
      hold.release();
      peer.close();
      await server.close();
    }
    await noH2Threads();
  },
);

socketTest("h2 limit: rapid reset (CVE-2023-44487) ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
  const server = h2Server({ http2: { resetBurst: 100, resetRate: 10 } });
  server.route("GET", "/slow", async (r) => {
    await sleep(10);
    await r.respond(200, "late");
  });
  const peer = await H2Peer.open(server.address);
  try {
    for (let id = 1; id < 2 * 1000; id += 2) {
      peer.request(id, "/slow");
      peer.out.rstStream(id, CANCEL);
    }
    await peer.flush();
    const away = await peer.goaway();
    assert.equal(away.code, ENHANCE_YOUR_CALM);
    assert.ok(away.last < 2 * 1000);
    // Every handler thread was interrupted and is gone: nothing held for the attacker.
    await noH2Threads();
  } finally {
    peer.close();
    await server.close();
  }
});

socketTest("h2 limit: a CONTINUATION flood (CVE-2024-27316) ends in GOAWAY", async () => {
  for (const size of [1000, 0]) {
    const server = h2Server();
    const peer = await H2Peer.open(server.address);
    try {
      const block = peer.encoder.encode([":method", "GET", ":scheme", "http", ":path", "/"]);
      peer.out.frame(HEADERS, 0, 1, block);
      const filler = new Uint8Array(size).fill(0x82);
      for (let i = 0; i < 200; i++) peer.out.frame(CONTINUATION, 0, 1, filler);
      await peer.flushQuietly(); // the server may close before taking it all
      const away = await peer.goaway();
      assert.equal(away.code, ENHANCE_YOUR_CALM, away.debug);
      assert.match(away.debug, /CONTINUATION/);
      void END_HEADERS;
    } finally {
      peer.close();
      await server.close();
    }
  }
  await noH2Threads();
});

socketTest("h2 limit: an HPACK bomb ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
  const server = h2Server({ http2: { maxHeaderListSize: 16384 } });
  const peer = await H2Peer.open(server.address);
  try {
    // A 4000-byte value put in the table, then referenced 1000 times: 4 MB from 5 KB.
    const big = new Uint8Array(4000).fill(0x61);
    const head = peer.encoder.encode([":method", "GET", ":scheme", "http", ":path", "/"]);
    const block = new Uint8Array([
      ...head,
      0x40,
      0x01,
      0x78,
      0x7f,
      0xa1,
      0x1e,
      ...big,
      ...new Array(1000).fill(0xbe),
    ]); // deno-fmt-ignore
    peer.out.headers(1, block, 1, 16384);
    await peer.flush();
    const away = await peer.goaway();
    assert.equal(away.code, ENHANCE_YOUR_CALM);
    assert.match(away.debug, /decodes to more than/);
  } finally {
    peer.close();
    await server.close();
  }
  await noH2Threads();
});

socketTest(
  "h2 limit: a header list just over the limit gets 431, the connection goes on",
  async () => {
    const server = h2Server({ http2: { maxHeaderListSize: 4096 } });
    const peer = await H2Peer.open(server.address);
    try {
      peer.request(1, "/hello/a", { fields: [["x-big", "y".repeat(5000)]] });
      peer.request(3, "/hello/b");
      await peer.flush();
      assert.equal((await peer.response(1)).status, 431);
      assert.equal(text((await peer.response(3)).body), "hello b HTTP/2\n");
    } finally {
      peer.close();
      await server.close();
    }
  },
);

socketTest("h2 limit: SETTINGS and PING floods end in GOAWAY ENHANCE_YOUR_CALM", async () => {
  for (const kind of ["settings", "ping"]) {
    const server = h2Server({ http2: { controlBurst: 100, controlRate: 10 } });
    const peer = await H2Peer.open(server.address);
    try {
      for (let i = 0; i < 1000; i++) {
        if (kind === "ping") peer.out.ping(0, new Uint8Array(8));
        else peer.out.settings([[SETTINGS_INITIAL_WINDOW_SIZE, 65535]]);
      }
      await peer.flushQuietly();
      const frames = await peer.until((f) => f.type === 7);
      const f = frames[frames.length - 1];
      const code = new DataView(f.payload.buffer).getUint32(4);
      assert.equal(code, ENHANCE_YOUR_CALM, kind);
      const acks = frames.filter((g) => g.type === (kind === "ping" ? PING : 4) && g.flags === 1);
      assert.ok(acks.length <= 101, `${acks.length} acks`);
    } finally {
      peer.close();
      await server.close();
    }
  }
  await noH2Threads();
});

socketTest(
  "h2 limit: a zero stream window resets the stream when the stall times out",
  async () => {
    const server = h2Server({ http2: { stallTimeout: 0.2 } });
    const peer = await H2Peer.open(server.address, [[SETTINGS_INITIAL_WINDOW_SIZE, 0]]);
    try {
      peer.request(1, "/hello/stuck");
      await peer.flush();
      const r = await peer.response(1, { credit: false });
      assert.equal(r.status, 200);
      assert.equal(r.reset, CANCEL);
      // The connection goes on.
      peer.out.settings([[SETTINGS_INITIAL_WINDOW_SIZE, 65535]]);
      peer.request(3, "/hello/after");
      await peer.flush();
      assert.equal(text((await peer.response(3)).body), "hello after HTTP/2\n");
    } finally {
      peer.close();
      await server.close();
    }
  },
);

socketTest("h2 limit: a connection window kept shut ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
  const server = h2Server({ http2: { stallTimeout: 0.2 } });
  const peer = await H2Peer.open(server.address, [[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]]);
  try {
    peer.request(1, "/big/256");
    await peer.flush();
    const away = await peer.goaway();
    assert.equal(away.code, ENHANCE_YOUR_CALM);
    assert.match(away.debug, /connection window/);
  } finally {
    peer.close();
    await server.close();
  }
  await noH2Threads();
});

socketTest(
  "h2: protocol errors: a bad preface, DATA on stream 0, a malformed request",
  async () => {
    const server = h2Server();
    try {
      const peer = await H2Peer.open(server.address);
      peer.out.data(0, new Uint8Array(1), 0);
      await peer.flush();
      assert.equal((await peer.goaway()).code, PROTOCOL_ERROR);
      peer.close();
      const second = await H2Peer.open(server.address);
      // Uppercase field name: a stream error only.
      second.out.headers(
        1,
        second.encoder.encode([":method", "GET", ":scheme", "http", ":path", "/", "X-Up", "1"]),
        1,
        16384,
      );
      second.request(3, "/hello/ok");
      await second.flush();
      const bad = await second.response(1);
      assert.equal(bad.reset, PROTOCOL_ERROR);
      assert.equal(text((await second.response(3)).body), "hello ok HTTP/2\n");
      second.close();
    } finally {
      await server.close();
    }
  },
);

socketTest("h2 limit: SETTINGS never acknowledged end in GOAWAY SETTINGS_TIMEOUT", async () => {
  const server = h2Server({ http2: { settingsTimeout: 0.1 } });
  const peer = await H2Peer.open(server.address);
  peer.ackSettings = false;
  try {
    peer.request(1, "/hello/early");
    await peer.flush();
    assert.equal(text((await peer.response(1)).body), "hello early HTTP/2\n");
    await sleep(0.2);
    peer.out.ping(0, new Uint8Array(8));
    await peer.flush();
    assert.equal((await peer.goaway()).code, SETTINGS_TIMEOUT);
  } finally {
    peer.close();
    await server.close();
  }
});

socketTest("h2 limit: bodies over maxBodyBytes get 413, declared or streamed", async () => {
  const server = h2Server({ maxBodyBytes: 1000 });
  const peer = await H2Peer.open(server.address);
  try {
    peer.request(1, "/echo", { method: "POST", end: false, fields: [["content-length", "5000"]] });
    peer.request(3, "/echo", { method: "POST", end: false });
    peer.data(3, new Uint8Array(800));
    peer.data(3, new Uint8Array(800));
    await peer.flush();
    assert.equal((await peer.response(1)).status, 413);
    assert.equal((await peer.response(3)).status, 413);
    peer.request(5, "/hello/after");
    await peer.flush();
    assert.equal(text((await peer.response(5)).body), "hello after HTTP/2\n");
  } finally {
    peer.close();
    await server.close();
  }
});

socketTest("h2: random frames after the preface: GOAWAY or answers, never a crash", async () => {
  const random = prng(5);
  const server = h2Server();
  try {
    for (let round = 0; round < 30; round++) {
      const peer = await H2Peer.open(server.address);
      try {
        for (let k = 0; k < 20; k++) {
          const type = Math.floor(random() * 11);
          const payload = new Uint8Array(Math.floor(random() * 40));
          for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
          const stream = random() < 0.3 ? 0 : 1 + 2 * Math.floor(random() * 4);
          peer.out.frame(type, Math.floor(random() * 256), stream, payload);
        }
        await peer.flushQuietly();
        // The server either ends the connection with a GOAWAY or is still serving.
        peer.request(101, "/hello/alive");
        await peer.flushQuietly();
        const seen = await peer.until((f) => f.type === 7 || f.stream === 101)
          .catch((e) => e);
        assert.ok(!(seen instanceof Error) || /connection ended/.test(seen.message), String(seen));
      } finally {
        peer.close();
      }
    }
    // Still serving new connections.
    const last = await H2Peer.open(server.address);
    last.request(1, "/hello/end");
    await last.flush();
    assert.equal(text((await last.response(1)).body), "hello end HTTP/2\n");
    last.close();
  } finally {
    await server.close();
  }
  await noH2Threads();
});

socketTest(
  "h2: fetchHandler over HTTP/2: answers, and RST_STREAM aborts the request's signal",
  async () => {
    const aborted = new Latch<unknown>();
    const server = new HttpServer({ onError: () => {} });
    server.push(fetchHandler(async (req) => {
      if (new URL(req.url).pathname === "/wait") {
        req.signal.addEventListener("abort", () => aborted.release(req.signal.reason));
        await sleep(10);
      }
      if (req.method === "POST") return new Response(`echo ${await req.text()}`);
      return new Response(`fetch ${new URL(req.url).pathname}`);
    }));
    server.listen("127.0.0.1:0");
    const peer = await H2Peer.open(server.address);
    try {
      peer.request(1, "/a");
      peer.request(3, "/wait");
      await peer.flush();
      assert.equal(text((await peer.response(1)).body), "fetch /a");
      await sleep(0.05);
      peer.out.rstStream(3, CANCEL);
      peer.request(5, "/b");
      await peer.flush();
      const reason = await withTimeout(5, () => aborted.wait());
      assert.ok(reason instanceof StreamResetError, String(reason));
      assert.equal(text((await peer.response(5)).body), "fetch /b");
      peer.request(7, "/post", { method: "POST", end: false });
      peer.data(7, "piece one, ");
      peer.data(7, "piece two", true);
      await peer.flush();
      assert.equal(text((await peer.response(7)).body), "echo piece one, piece two");
    } finally {
      peer.close();
      await server.close();
    }
    await noH2Threads();
  },
);
