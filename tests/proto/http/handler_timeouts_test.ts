/**
 * A handler's own timeout is the handler's failure, not an interruption of its connection:
 * it is answered (500; 504 for an upstream HTTP client's deadline) and reported to
 * `onError`, on HTTP/1.1, HTTP/2 streams, fetch-style handlers and WebSockets. The
 * server's own deadlines on a slow client, and its close, still end the connection (or
 * stream) without a reply and without a report.
 */
import assert from "node:assert/strict";
import {
  connectTo,
  listenOn,
  type Socket,
  SocketReader,
  spawn,
  type Thread,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  fetchHandler,
  HttpClient,
  HttpServer,
  type HttpServerOptions,
  HttpTimeoutError,
  PeerTimeoutError,
} from "../../../proto/http/mod.ts";
import {
  CANCEL,
  GOAWAY,
  HEADERS,
  SETTINGS_INITIAL_WINDOW_SIZE,
} from "../../../proto/http/h2/constants.ts";
import { connectWebSocket, websocketHandler } from "../../../proto/websocket/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";
import { H2Peer } from "./_h2_peer.ts";

/** A reply larger than loopback's socket buffers hold, a few of them. */
const BIG = new Uint8Array(1 << 20);

/** What a test server's `onError` was given. */
type Reported = { error: unknown; request: string }[];

/**
 * A listener that accepts connections, reads what comes and never answers: the upstream
 * a handler's HTTP client times out on.
 */
class SilentUpstream {
  readonly listener: Socket = listenOn("127.0.0.1:0");
  readonly #held: Socket[] = [];
  readonly #acceptor: Thread;
  constructor() {
    this.#acceptor = spawn({ name: "silent upstream" }, async () => {
      for (let i = 0; i < 16; i++) {
        const [conn] = await this.listener.accept();
        this.#held.push(conn);
      }
    });
  }
  get url(): string {
    const { port } = this.listener.localAddress() as { port: number };
    return `http://127.0.0.1:${port}/`;
  }
  close(): void {
    this.#acceptor.shutdown();
    for (const c of this.#held) c.close();
    this.listener.close();
  }
}

/** A server whose handlers time out in each way; `reported` collects `onError`'s calls. */
function timingOutServer(
  reported: Reported,
  upstream: SilentUpstream,
  seen: unknown[],
  options: HttpServerOptions = {},
): HttpServer {
  const server = new HttpServer({
    onError: (error, request) => reported.push({ error, request: String(request) }),
    ...options,
  });
  server.route("GET", "/own", async (r) => {
    await withTimeout(0.05, () => sleep(1));
    await r.respond(200, "too late\n");
  });
  server.route("GET", "/upstream", async (r) => {
    const client = new HttpClient({ headTimeoutSeconds: 0.1 });
    try {
      const response = await client.request(upstream.url);
      await r.respond(200, await response.text());
    } finally {
      client.close();
    }
  });
  server.route("POST", "/echo", async (r) => {
    try {
      // Its own longer deadline around the read: the server's passes through it unchanged.
      const body = await withTimeout(30, () => r.body.bytes());
      await r.respond(200, body);
    } catch (e) {
      seen.push(e);
      throw e;
    }
  });
  server.route("GET", "/slow", async (r) => {
    try {
      await withTimeout(30, () => sleep(60)); // its own deadline is not the server's close
    } catch (e) {
      seen.push(e);
      throw e;
    }
    await r.respond(200, "slept\n");
  });
  server.route("GET", "/big", async (r) => {
    try {
      await r.respond(200, BIG);
    } catch (e) {
      seen.push(e);
      throw e;
    }
  });
  server.push(fetchHandler(async () => {
    await withTimeout(0.05, () => sleep(1));
    return new Response("too late\n");
  }, { match: (r) => r.path === "/fetch" }));
  server.push(fetchHandler(async () => {
    await withTimeout(0.05, () => sleep(1));
    return new Response("too late\n");
  }, {
    match: (r) => r.path === "/fetch-own-error",
    onError: (e) => new Response(`app: ${(e as Error).name}\n`, { status: 503 }),
  }));
  server.push(websocketHandler("/ws", async (ws) => {
    await ws.sendText("hello");
    await withTimeout(0.05, () => sleep(1));
  }));
  server.listen("127.0.0.1:0");
  return server;
}

/** One raw HTTP/1.1 exchange: the status and body of the reply, or null if none came. */
async function exchange(
  server: HttpServer,
  request: string,
): Promise<{ status: number; body: string } | null> {
  const socket = await connectTo(server.address);
  try {
    await socket.send(bytes(request));
    const reader = new SocketReader(socket);
    const head = await withTimeout(5, () => reader.readHead(65536));
    if (head === null) return null;
    const lines = text(head).split("\r\n");
    const length = lines.find((l) => l.toLowerCase().startsWith("content-length:"));
    const body = length === undefined
      ? ""
      : text(await withTimeout(5, () => reader.readExact(Number(length.split(":")[1]))));
    return { status: Number(lines[0].split(" ")[1]), body };
  } finally {
    socket.close();
  }
}

/** Runs `body` with a fresh server (and its silent upstream), closed afterwards. */
async function withServer(
  body: (server: HttpServer, reported: Reported, seen: unknown[]) => Promise<void>,
  options: HttpServerOptions = {},
): Promise<void> {
  const reported: Reported = [];
  const seen: unknown[] = [];
  const upstream = new SilentUpstream();
  const server = timingOutServer(reported, upstream, seen, options);
  try {
    await body(server, reported, seen);
  } finally {
    await server.close({ graceSeconds: 1 });
    upstream.close();
  }
}

const names = (reported: Reported) =>
  reported.map(({ error, request }) => `${(error as Error).name} ${request}`);

// ---- HTTP/1.1 ----

socketTest("a handler's own withTimeout expiring is answered 500 and reported", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /own HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 500);
    assert.deepEqual(names(reported), ["TimeoutError GET /own HTTP/1.1"]);
    assert.ok(reported[0].error instanceof TimeoutError);
    assert.ok(!(reported[0].error instanceof PeerTimeoutError));
  });
});

socketTest(
  "an upstream HTTP client's deadline in a handler is answered 504 and reported",
  async () => {
    await withServer(async (server, reported) => {
      const reply = await exchange(server, "GET /upstream HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(reply?.status, 504);
      assert.deepEqual(names(reported), ["HttpTimeoutError GET /upstream HTTP/1.1"]);
      const error = reported[0].error;
      assert.ok(error instanceof HttpTimeoutError && error.phase === "head", String(error));
    });
  },
);

socketTest(
  "the server's own body deadline ends the connection: no reply, no report, PeerTimeoutError in the handler",
  async () => {
    await withServer(async (server, reported, seen) => {
      // Half the body announced, then nothing: the server's bodyTimeout passes.
      const reply = await exchange(
        server,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345",
      );
      assert.equal(reply, null);
      assert.deepEqual(names(reported), []);
      assert.equal(seen.length, 1);
      assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
      assert.equal((seen[0] as PeerTimeoutError).seconds, 0.1);
    }, { bodyTimeout: 0.1 });
  },
);

socketTest(
  "the server's send deadline on a client that does not read ends the connection quietly",
  async () => {
    await withServer(async (server, reported, seen) => {
      const socket = await connectTo(server.address);
      try {
        await socket.send(bytes("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(32)));
        // Never read: the replies fill both buffers, the send deadline passes.
        for (let i = 0; i < 300 && seen.length === 0; i++) await sleep(0.01);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
        assert.deepEqual(names(reported), []);
      } finally {
        socket.close();
      }
    }, { sendTimeout: 0.1 });
  },
);

socketTest("close() during a handler ends its connection quietly", async () => {
  await withServer(async (server, reported, seen) => {
    const socket = await connectTo(server.address);
    try {
      await socket.send(bytes("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
      await sleep(0.05); // the handler sleeps
      await withTimeout(5, () => server.close({ graceSeconds: 0.05 }));
      const reader = new SocketReader(socket);
      assert.equal((await withTimeout(5, () => reader.readSome(4096))).length, 0);
      assert.deepEqual(seen.map((e) => (e as Error).name), ["Shutdown"]);
      assert.deepEqual(names(reported), []);
    } finally {
      socket.close();
    }
  });
});

// ---- fetch-style handlers ----

socketTest("a fetch app whose own awaited work times out gets a 500, reported", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /fetch HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 500);
    assert.deepEqual(names(reported), ["TimeoutError GET /fetch HTTP/1.1"]);
  });
});

socketTest("a fetch app's own timeout goes to the app's onError, as its other errors", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /fetch-own-error HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 503);
    assert.equal(reply?.body, "app: TimeoutError\n");
    assert.deepEqual(names(reported), []);
  });
});

// ---- WebSocket ----

socketTest("a WebSocket callback's own timeout is reported; the socket is closed", async () => {
  await withServer(async (server, reported) => {
    const ws = await connectWebSocket(`${server.url.replace("http", "ws")}/ws`);
    try {
      assert.deepEqual(await withTimeout(5, () => ws.receive()), { type: "text", data: "hello" });
      assert.equal(await withTimeout(5, () => ws.receive()), null);
      for (let i = 0; i < 100 && reported.length === 0; i++) await sleep(0.01);
      assert.deepEqual(names(reported), ["TimeoutError GET /ws HTTP/1.1"]);
    } finally {
      await ws.close();
    }
  });
});

// ---- HTTP/2 (prior knowledge, a raw frame peer) ----

socketTest(
  "h2: a handler's own timeout is answered 500 (504 upstream) on its stream, reported",
  async () => {
    await withServer(async (server, reported) => {
      const peer = await H2Peer.open(server.address);
      try {
        peer.request(1, "/own");
        peer.request(3, "/upstream");
        peer.request(5, "/fetch");
        await peer.flush();
        assert.equal((await peer.response(1)).status, 500);
        assert.equal((await peer.response(3)).status, 504);
        assert.equal((await peer.response(5)).status, 500);
        assert.deepEqual(names(reported).sort(), [
          "HttpTimeoutError GET /upstream HTTP/2",
          "TimeoutError GET /fetch HTTP/2",
          "TimeoutError GET /own HTTP/2",
        ]);
      } finally {
        peer.close();
      }
    });
  },
);

socketTest(
  "h2: the server's body deadline resets the stream: no report, PeerTimeoutError",
  async () => {
    await withServer(async (server, reported, seen) => {
      const peer = await H2Peer.open(server.address);
      try {
        peer.request(1, "/echo", { method: "POST", end: false });
        peer.data(1, "12345");
        await peer.flush();
        const r = await peer.response(1);
        assert.equal(r.reset, CANCEL);
        assert.equal(r.status, 0);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
        assert.deepEqual(names(reported), []);
      } finally {
        peer.close();
      }
    }, { bodyTimeout: 0.1 });
  },
);

socketTest(
  "h2: a stream window kept shut resets the stream: no report, PeerTimeoutError",
  async () => {
    await withServer(async (server, reported, seen) => {
      const peer = await H2Peer.open(server.address, [[SETTINGS_INITIAL_WINDOW_SIZE, 0]]);
      try {
        peer.request(1, "/big");
        await peer.flush();
        const r = await peer.response(1, { credit: false });
        assert.equal(r.reset, CANCEL);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
        assert.deepEqual(names(reported), []);
      } finally {
        peer.close();
      }
    }, { http2: { stallTimeout: 0.1 } });
  },
);

socketTest("h2: close() during a handler ends its stream quietly", async () => {
  await withServer(async (server, reported, seen) => {
    const peer = await H2Peer.open(server.address);
    try {
      peer.request(1, "/slow");
      await peer.flush();
      await sleep(0.05); // the handler sleeps
      await withTimeout(5, () => server.close({ graceSeconds: 0.05 }));
      // No reply on stream 1: a GOAWAY, then the connection's end.
      const frames: { type: number; stream: number }[] = [];
      for (let f = await peer.frame(); f !== null; f = await peer.frame()) frames.push(f);
      assert.ok(frames.some((f) => f.type === GOAWAY), JSON.stringify(frames));
      assert.ok(!frames.some((f) => f.type === HEADERS && f.stream === 1));
      assert.deepEqual(seen.map((e) => (e as Error).name), ["StreamResetError"]);
      assert.deepEqual(names(reported), []);
    } finally {
      peer.close();
    }
  }, { http2: { shutdownGrace: 0.05 } });
});
