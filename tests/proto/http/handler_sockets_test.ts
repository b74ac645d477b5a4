/**
 * A socket error is only an interruption of the exchange when it is the exchange's own
 * (its client gone while the server reads the request's body or sends the reply). The
 * same errors from what a handler calls (its HTTP client to a refused port, an upstream
 * that closes mid-answer) are the handler's failure: answered 502 and reported to
 * `onError`, on HTTP/1.1, HTTP/2 streams, fetch-style handlers and WebSockets.
 */
import assert from "node:assert/strict";
import {
  ConnectionRefusedError,
  connectTo,
  listenOn,
  PeerLostError,
  type Socket,
  SocketError,
  SocketReader,
  spawn,
  type Thread,
  withTimeout,
} from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  fetchHandler,
  HttpClient,
  HttpProtocolError,
  HttpServer,
} from "../../../proto/http/mod.ts";
import { connectWebSocket, websocketHandler } from "../../../proto/websocket/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";
import { SETTINGS_INITIAL_WINDOW_SIZE } from "../../../proto/http/h2/constants.ts";
import { H2Peer } from "./_h2_peer.ts";

const BIG = new Uint8Array(1 << 20);

/** What a test server's `onError` was given. */
type Reported = { error: unknown; request: string }[];

/** A loopback port nobody listens on (taken, then let go). */
function refusedUrl(): string {
  const socket = listenOn("127.0.0.1:0");
  const { port } = socket.localAddress() as { port: number };
  socket.close();
  return `http://127.0.0.1:${port}/`;
}

/**
 * An upstream that answers each request with a head announcing 100 bytes, sends 10 and
 * closes: the handler's client loses its peer mid-body.
 */
class CuttingUpstream {
  readonly listener: Socket = listenOn("127.0.0.1:0");
  readonly #acceptor: Thread;
  constructor() {
    this.#acceptor = spawn({ name: "cutting upstream" }, async () => {
      for (let i = 0; i < 16; i++) {
        const [conn] = await this.listener.accept();
        try {
          await withTimeout(5, () => new SocketReader(conn).readHead(65536));
          await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789"));
        } finally {
          conn.close();
        }
      }
    });
  }
  get url(): string {
    const { port } = this.listener.localAddress() as { port: number };
    return `http://127.0.0.1:${port}/`;
  }
  close(): void {
    this.#acceptor.shutdown();
    this.listener.close();
  }
}

/** The body of `url` through a fresh client. */
async function fetchUpstream(url: string): Promise<string> {
  const client = new HttpClient();
  try {
    return await (await client.request(url)).text();
  } finally {
    client.close();
  }
}

/** Runs `body` with a server whose handlers meet socket errors of each kind. */
async function withServer(
  body: (server: HttpServer, reported: Reported, seen: unknown[]) => Promise<void>,
): Promise<void> {
  const reported: Reported = [];
  const seen: unknown[] = [];
  const refused = refusedUrl();
  const cutting = new CuttingUpstream();
  const server = new HttpServer({
    onError: (error, request) => reported.push({ error, request: String(request) }),
  });
  server.route("GET", "/refused", async (r) => {
    await r.respond(200, await fetchUpstream(refused));
  });
  server.route("GET", "/cut", async (r) => {
    await r.respond(200, await fetchUpstream(cutting.url));
  });
  server.route("POST", "/echo", async (r) => {
    try {
      await r.respond(200, await r.body.bytes());
    } catch (e) {
      seen.push(e);
      throw e;
    }
  });
  server.route("GET", "/big", async (r) => {
    try {
      await sleep(0.1); // the client is gone by now
      for (let i = 0; i < 64; i++) await r.push(BIG);
      await r.done();
    } catch (e) {
      seen.push(e);
      throw e;
    }
  });
  server.push(fetchHandler(async (request) => {
    try {
      return new Response(await request.text());
    } catch (e) {
      seen.push(e);
      throw e;
    }
  }, { match: (r) => r.path === "/fetch-echo" }));
  server.push(fetchHandler(async () => new Response(await fetchUpstream(refused)), {
    match: (r) => r.path === "/fetch-refused",
  }));
  server.push(fetchHandler(() => {
    const stream = new ReadableStream<Uint8Array>({
      start: () => sleep(0.1),
      pull: (controller) => controller.enqueue(BIG),
    });
    return new Response(stream);
  }, { match: (r) => r.path === "/fetch-stream" }));
  server.push(websocketHandler("/ws-refused", async (ws) => {
    await ws.sendText("hello");
    await fetchUpstream(refused);
  }));
  server.push(websocketHandler("/ws-gone", async (ws) => {
    await ws.sendText("hello");
    try {
      await sleep(0.1); // the client is gone by now
      for (let i = 0; i < 64; i++) await ws.sendBinary(BIG);
    } catch (e) {
      seen.push(e);
      throw e;
    }
  }));
  server.listen("127.0.0.1:0");
  try {
    await body(server, reported, seen);
  } finally {
    await server.close({ graceSeconds: 1 });
    cutting.close();
  }
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
    return { status: Number(lines[0].split(" ")[1]), body: "" };
  } finally {
    socket.close();
  }
}

/** Sends `request` and goes away at once. */
async function sendAndLeave(server: HttpServer, request: string): Promise<void> {
  const socket = await connectTo(server.address);
  try {
    await socket.send(bytes(request));
  } finally {
    socket.close();
  }
}

/** Waits (bounded) until `seen` has `n` entries, then a little more for late reports. */
async function settle(seen: unknown[], n = 1): Promise<void> {
  for (let i = 0; i < 300 && seen.length < n; i++) await sleep(0.01);
  await sleep(0.05);
}

const names = (reported: Reported) =>
  reported.map(({ error, request }) => `${(error as Error).name} ${request}`);

// ---- HTTP/1.1 ----

socketTest("a handler's client refused by its upstream is answered 502 and reported", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /refused HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 502);
    assert.deepEqual(names(reported), ["ConnectionRefusedError GET /refused HTTP/1.1"]);
    assert.ok(reported[0].error instanceof ConnectionRefusedError);
  });
});

socketTest("an upstream closing mid-body in a handler is answered 502 and reported", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /cut HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 502);
    assert.equal(reported.length, 1, JSON.stringify(names(reported)));
    assert.ok(reported[0].error instanceof PeerLostError, String(reported[0].error));
  });
});

socketTest("a client gone while its handler reads the body: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    await sendAndLeave(server, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123");
    await settle(seen);
    assert.equal(seen.length, 1);
    assert.deepEqual(names(reported), []);
  });
});

/**
 * Sends a head expecting 100-continue and part of a body, waits for the server to read
 * (and send its 100 Continue, left unread), then closes: the unread bytes make the close
 * a reset, which the server's pending body read meets.
 */
async function resetMidBody(server: HttpServer, path: string): Promise<void> {
  const socket = await connectTo(server.address);
  try {
    await socket.send(
      bytes(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n123`,
      ),
    );
    await sleep(0.1);
  } finally {
    socket.close();
  }
}

socketTest("a client that resets while its handler reads the body: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    await resetMidBody(server, "/echo");
    await settle(seen);
    assert.equal(seen.length, 1);
    // A reset on the FFI backend; the portable one may have read the close as an end.
    assert.ok(
      seen[0] instanceof SocketError || seen[0] instanceof HttpProtocolError,
      String(seen[0]),
    );
    assert.deepEqual(names(reported), []);
  });
});

socketTest("a client gone while its reply is sent: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    await sendAndLeave(server, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    await settle(seen);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof SocketError, String(seen[0]));
    assert.deepEqual(names(reported), []);
  });
});

// ---- fetch-style handlers ----

socketTest("a fetch app refused by its upstream gets a 502, reported", async () => {
  await withServer(async (server, reported) => {
    const reply = await exchange(server, "GET /fetch-refused HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(reply?.status, 502);
    assert.deepEqual(names(reported), ["ConnectionRefusedError GET /fetch-refused HTTP/1.1"]);
  });
});

socketTest("a client that resets while a fetch app reads the body: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    await resetMidBody(server, "/fetch-echo");
    await settle(seen);
    assert.equal(seen.length, 1);
    assert.deepEqual(names(reported), []);
  });
});

socketTest("a client gone while a fetch app's stream is sent: quiet, no report", async () => {
  await withServer(async (server, reported) => {
    await sendAndLeave(server, "GET /fetch-stream HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(0.4);
    assert.deepEqual(names(reported), []);
  });
});

// ---- WebSocket ----

socketTest("a WebSocket callback refused by its upstream is reported", async () => {
  await withServer(async (server, reported) => {
    const ws = await connectWebSocket(`${server.url.replace("http", "ws")}/ws-refused`);
    try {
      assert.deepEqual(await withTimeout(5, () => ws.receive()), { type: "text", data: "hello" });
      assert.equal(await withTimeout(5, () => ws.receive()), null);
      for (let i = 0; i < 100 && reported.length === 0; i++) await sleep(0.01);
      assert.deepEqual(names(reported), ["ConnectionRefusedError GET /ws-refused HTTP/1.1"]);
    } finally {
      await ws.close();
    }
  });
});

socketTest("a WebSocket client gone while the callback sends: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    const ws = await connectWebSocket(`${server.url.replace("http", "ws")}/ws-gone`);
    assert.deepEqual(await withTimeout(5, () => ws.receive()), { type: "text", data: "hello" });
    ws.socket.close();
    await settle(seen);
    assert.equal(seen.length, 1);
    assert.deepEqual(names(reported), []);
  });
});

// ---- HTTP/2 (prior knowledge, a raw frame peer) ----

socketTest(
  "h2: upstream failures in handlers are answered 502 on their streams, reported",
  async () => {
    await withServer(async (server, reported) => {
      const peer = await H2Peer.open(server.address);
      try {
        peer.request(1, "/refused");
        peer.request(3, "/cut");
        peer.request(5, "/fetch-refused");
        await peer.flush();
        assert.equal((await peer.response(1)).status, 502);
        assert.equal((await peer.response(3)).status, 502);
        assert.equal((await peer.response(5)).status, 502);
        assert.equal(reported.length, 3, JSON.stringify(names(reported)));
        assert.deepEqual(names(reported).filter((n) => n.startsWith("ConnectionRefused")).sort(), [
          "ConnectionRefusedError GET /fetch-refused HTTP/2",
          "ConnectionRefusedError GET /refused HTTP/2",
        ]);
      } finally {
        peer.close();
      }
    });
  },
);

socketTest("h2: a client gone while its streams read or reply: quiet, no report", async () => {
  await withServer(async (server, reported, seen) => {
    const peer = await H2Peer.open(server.address);
    peer.request(1, "/echo", { method: "POST", end: false });
    peer.data(1, "12345");
    peer.request(3, "/big");
    await peer.flush();
    await sleep(0.05);
    peer.close();
    await settle(seen, 2);
    assert.equal(seen.length, 2);
    assert.deepEqual(names(reported), []);
  });
});

socketTest("h2: a client gone before a reply with open windows is sent: quiet", async () => {
  await withServer(async (server, reported, seen) => {
    // Windows wide open: the reply is held by the socket only, not by flow control.
    const peer = await H2Peer.open(server.address, [[SETTINGS_INITIAL_WINDOW_SIZE, 0x7fffffff]]);
    peer.out.windowUpdate(0, 0x7fffffff - 65535);
    peer.request(1, "/big");
    await peer.flush();
    peer.close(); // before the handler (sleeping) sends
    await settle(seen);
    assert.equal(seen.length, 1);
    assert.deepEqual(names(reported), []);
  });
});
