/** The HTTP server, spoken to by raw sockets (exact framing) and by Deno's fetch. */
import assert from "node:assert/strict";
import {
  allThreads,
  ClosedError,
  connectTo,
  listenOn,
  setThreadErrorHook,
  type Socket,
  SocketReader,
  spawn,
  threadById,
  waitFor,
  withTimeout,
} from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  faviconHandler,
  HttpError,
  HttpServer,
  type HttpServerOptions,
  staticFilesHandler,
  statusHandler,
} from "../../../proto/http/mod.ts";
import { connectWebSocket, websocketHandler } from "../../../proto/websocket/mod.ts";
import { prng } from "../../_helpers.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

/** A server with a few routes, for one test; closed by the caller. */
function testServer(options: HttpServerOptions = {}): HttpServer {
  const server = new HttpServer({ onError: () => {}, ...options });
  server.route("GET", "/hello/:name", (r) => r.respond(200, `hello ${r.params.name}\n`));
  server.route("POST", "/echo", async (r) => {
    const body = await r.body.bytes();
    await r.respond(200, body, { "content-type": "application/octet-stream" });
  });
  server.route("GET", "/stream/:kb", async (r) => {
    const kb = Number(r.params.kb);
    for (let i = 0; i < kb; i++) await r.push("x".repeat(1023) + "\n");
  });
  server.route("GET", "/fail", () => {
    throw new Error("handler bug");
  });
  server.route("GET", "/teapot", () => {
    throw new HttpError(418, "short and stout");
  });
  server.listen("127.0.0.1:0");
  return server;
}

/** A raw HTTP exchange: sends `request`, reads one response (head + body by its framing). */
class RawClient {
  readonly socket: Socket;
  readonly reader: SocketReader;
  constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket);
  }
  static async open(server: HttpServer): Promise<RawClient> {
    return new RawClient(await connectTo(server.address));
  }
  async send(request: string | Uint8Array): Promise<void> {
    await this.socket.send(typeof request === "string" ? bytes(request) : request);
  }
  /** Reads one response: status, lower-case headers, decoded body. */
  async response(
    forHead = false,
  ): Promise<{ status: number; headers: Map<string, string>; body: string }> {
    const head = await withTimeout(5, () => this.reader.readHead(65536));
    assert.ok(head !== null, "connection closed before a response");
    const lines = text(head).split("\r\n").filter((l) => l !== "");
    const status = Number(lines[0].split(" ")[1]);
    const headers = new Map(
      lines.slice(1).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
      }),
    );
    let body = "";
    if (forHead) return { status, headers, body };
    if (headers.get("transfer-encoding") === "chunked") {
      for (;;) {
        const size = parseInt((await this.reader.readLine(100))!, 16);
        if (size === 0) {
          await this.reader.readLine(100);
          break;
        }
        body += text(await this.reader.readExact(size));
        await this.reader.readLine(100);
      }
    } else if (headers.has("content-length")) {
      body = text(await this.reader.readExact(Number(headers.get("content-length"))));
    } else if (status >= 200 && status !== 204 && status !== 304) {
      for (;;) {
        const piece = await withTimeout(5, () => this.reader.readSome(65536));
        if (piece.length === 0) break;
        body += text(piece);
      }
    }
    return { status, headers, body };
  }
  /** Whether the server closed the connection (reads the end of stream). */
  async closedByServer(): Promise<boolean> {
    const piece = await withTimeout(5, () => this.reader.readSome(1)).catch(() => null);
    return piece !== null && piece.length === 0;
  }
  close(): void {
    this.socket.close();
  }
}

socketTest("fetch gets a routed reply with its parameter", async () => {
  const server = testServer();
  try {
    const response = await waitFor(fetch(`${server.url}/hello/world`));
    assert.equal(response.status, 200);
    assert.equal(await waitFor(response.text()), "hello world\n");
  } finally {
    await server.close();
  }
});

socketTest(
  "HTTP/1.1 keeps the connection for the next request; Connection: close ends it",
  async () => {
    const server = testServer();
    const client = await RawClient.open(server);
    try {
      await client.send("GET /hello/a HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await client.response()).body, "hello a\n");
      await client.send("GET /hello/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const second = await client.response();
      assert.equal(second.body, "hello b\n");
      assert.equal(second.headers.get("connection"), "close");
      assert.equal(await client.closedByServer(), true);
      assert.equal(server.statistics().requests, 2);
    } finally {
      client.close();
      await server.close();
    }
  },
);

socketTest("Content-Length is the body's size in bytes, whatever its digits", async () => {
  const server = testServer();
  server.route("GET", "/sized/:n", (r) => r.respond(200, "é".repeat(Number(r.params.n))));
  server.route("GET", "/own-length", (r) => {
    r.replyHeaders.set("Content-Length", "3");
    return r.respond(200, "abc");
  });
  const client = await RawClient.open(server);
  try {
    for (const n of [0, 4, 5, 50, 12345]) {
      await client.send(`GET /sized/${n} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const reply = await client.response();
      assert.equal(reply.headers.get("content-length"), String(2 * n), `${n} characters`);
      assert.equal(reply.body, "é".repeat(n));
    }
    await client.send("GET /own-length HTTP/1.1\r\nHost: x\r\n\r\n");
    const own = await client.response();
    assert.equal(own.body, "abc");
    assert.equal(own.headers.get("content-length"), "3");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest("respond's fields go out as given, and read back through replyHeaders", async () => {
  const server = testServer();
  let seen: string | null = null;
  server.route("GET", "/fields", (r) => {
    const sent = r.respond(200, "ok", { "X-Custom": "1", "content-type": "text/x-test" });
    seen = r.replyHeaders.get("x-custom");
    return sent;
  });
  server.route("GET", "/close", (r) => r.respond(200, "bye", { Connection: "close" }));
  server.route("GET", "/both", (r) => {
    r.replyHeaders.set("x-early", "e");
    return r.respond(200, "both", { "x-late": "l" });
  });
  const client = await RawClient.open(server);
  try {
    await client.send("GET /fields HTTP/1.1\r\nHost: x\r\n\r\n");
    const fields = await client.response();
    assert.equal(fields.headers.get("x-custom"), "1");
    assert.equal(fields.headers.get("content-type"), "text/x-test");
    assert.equal(fields.headers.get("content-length"), "2");
    assert.equal(seen, "1");
    await client.send("GET /both HTTP/1.1\r\nHost: x\r\n\r\n");
    const both = await client.response();
    assert.equal(both.headers.get("x-early"), "e");
    assert.equal(both.headers.get("x-late"), "l");
    await client.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n");
    const last = await client.response();
    assert.equal(last.body, "bye");
    assert.equal(last.headers.get("connection"), "close");
    assert.equal(await client.closedByServer(), true, "Connection: close from respond ends it");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest("pipelined requests are answered in order", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  try {
    await client.send(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello/2 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal((await client.response()).body, "hello 1\n");
    assert.equal((await client.response()).body, "hello 2\n");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest("pipelined requests of every kind are answered in order", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  try {
    // Plain GETs (whose replies are held to go out together), a streamed reply, a body
    // with 100-continue (before which the held replies go out), a 404 (which keeps the
    // connection), an error that closes it.
    await client.send(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /stream/20 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /hello/2 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" +
        "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /hello/3 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /hello/4 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal((await client.response()).body, "hello 1\n");
    assert.equal((await client.response()).body.length, 20 * 1024);
    assert.equal((await client.response()).body, "hello 2\n");
    assert.equal((await client.response()).status, 100);
    assert.equal((await client.response()).body, "abc");
    assert.equal((await client.response()).status, 404);
    assert.equal((await client.response()).body, "hello 3\n");
    assert.equal((await client.response()).status, 500);
    assert.equal(await client.closedByServer(), true); // /hello/4 is not served
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("pipelined replies go out in one write", async () => {
  // A socket whose client sent three requests at once, then waits for replies.
  const writes: string[] = [];
  let delivered = false;
  const batch = bytes(
    "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello/2 HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /hello/3 HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  const fake = {
    setsockopt() {},
    close() {},
    tryRecvInto(buffer: Uint8Array): number {
      if (delivered) return writes.length > 0 ? 0 : -1; // the end once replied to
      delivered = true;
      buffer.set(batch);
      return batch.length;
    },
    waitForRead: () => Promise.resolve(),
    trySend(data: Uint8Array): number {
      writes.push(text(data));
      return data.length;
    },
  };
  const server = new HttpServer();
  server.route("GET", "/hello/:name", (r) => r.respond(200, `hello ${r.params.name}\n`));
  const thread = await spawn(() =>
    server.serve(fake as unknown as Socket, { family: "ipv4", host: "127.0.0.1", port: 1 })
  ).join();
  await spawn(() => thread.join()).join();
  await spawn(() => server.close()).join();
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0].match(/hello \d/g), ["hello 1", "hello 2", "hello 3"]);
});

socketTest("a pipelined reply is not held back by the next request's handler", async () => {
  const server = testServer();
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  server.route("GET", "/after-release", async (r) => {
    await waitFor(released);
    await r.respond(200, "released\n");
  });
  const client = await RawClient.open(server);
  try {
    await client.send(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /after-release HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    // The first reply comes while the second handler waits (or this times out).
    assert.equal((await client.response()).body, "hello 1\n");
    release();
    assert.equal((await client.response()).body, "released\n");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest("a client gone while a pipelined handler blocks costs only its connection", async () => {
  const server = testServer();
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  server.route("GET", "/after-release", async (r) => {
    await waitFor(released);
    await r.respond(200, "x".repeat(200_000)); // more than the socket takes at once
  });
  const client = await RawClient.open(server);
  try {
    await client.send(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /after-release HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /hello/3 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal((await client.response()).body, "hello 1\n");
  } finally {
    client.close();
  }
  release();
  try {
    await withTimeout(5, async () => {
      while (server.statistics().open > 0) await sleep(0.01);
    });
    const next = await RawClient.open(server);
    await next.send("GET /hello/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await next.response()).body, "hello 2\n");
    next.close();
  } finally {
    await server.close();
  }
});

socketTest("a WebSocket upgrade pipelined after a request comes after its reply", async () => {
  const server = testServer();
  server.push(websocketHandler("/ws", async (ws) => {
    await ws.sendText("hi");
  }));
  const client = await RawClient.open(server);
  try {
    await client.send(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert.equal((await client.response()).body, "hello 1\n");
    const upgrade = await client.response(true);
    assert.equal(upgrade.status, 101);
    assert.equal(upgrade.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest(
  "a repeated reply's kept head follows what changes: a field, status, version, close",
  async () => {
    const server = testServer();
    server.route(
      "GET",
      "/fixed/:status/:value",
      (r) => r.respond(Number(r.params.status), "x", { "x-value": r.params.value }),
    );
    const client = await RawClient.open(server);
    const get = async (path: string, version = "1.1", extra = "") => {
      await client.send(`GET ${path} HTTP/${version}\r\nHost: x\r\n${extra}\r\n`);
      return await client.response();
    };
    try {
      // Enough of the same reply for its head to be kept (one in 32 is).
      for (let i = 0; i < 70; i++) {
        assert.equal(
          (await get("/fixed/200/a")).headers.get("x-value"),
          "a",
        );
      }
      assert.equal((await get("/fixed/200/b")).headers.get("x-value"), "b");
      const created = await get("/fixed/201/a");
      assert.equal(created.status, 201);
      assert.equal(created.headers.get("x-value"), "a");
      const old = await get("/fixed/200/a", "1.0", "Connection: keep-alive\r\n");
      assert.equal(old.headers.get("connection"), "keep-alive");
      assert.equal(old.body, "x");
      const last = await get("/fixed/200/a", "1.1", "Connection: close\r\n");
      assert.equal(last.headers.get("connection"), "close");
      assert.equal(last.headers.get("x-value"), "a");
      assert.equal(await client.closedByServer(), true);
    } finally {
      client.close();
      await server.close();
    }
  },
);

socketTest("HTTP/1.0 closes unless keep-alive is asked and the length is known", async () => {
  const server = testServer();
  try {
    const plain = await RawClient.open(server);
    await plain.send("GET /hello/x HTTP/1.0\r\n\r\n");
    assert.equal((await plain.response()).body, "hello x\n");
    assert.equal(await plain.closedByServer(), true);
    plain.close();
    const kept = await RawClient.open(server);
    await kept.send("GET /hello/y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const reply = await kept.response();
    assert.equal(reply.headers.get("connection"), "keep-alive");
    await kept.send("GET /stream/20 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const streamed = await kept.response(); // no length known: read to close
    assert.equal(streamed.body.length, 20 * 1024);
    kept.close();
  } finally {
    await server.close();
  }
});

socketTest("a reply pushed without a length goes out chunked", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  try {
    await client.send("GET /stream/40 HTTP/1.1\r\nHost: x\r\n\r\n");
    const reply = await client.response();
    assert.equal(reply.headers.get("transfer-encoding"), "chunked");
    assert.equal(reply.body.length, 40 * 1024);
    await client.send("GET /stream/2 HTTP/1.1\r\nHost: x\r\n\r\n"); // small: one piece, a length
    const small = await client.response();
    assert.equal(small.headers.get("content-length"), String(2 * 1024));
  } finally {
    client.close();
    await server.close();
  }
});

socketTest(
  "text replies are UTF-8 with their byte length; replies past 1 MiB arrive whole",
  async () => {
    const big = "é".repeat(700_000) + "end"; // 1.4 MB of UTF-8
    const server = new HttpServer({ onError: () => {} });
    server.route("GET", "/utf8", (r) => r.respond(200, "naïve ☃ 𝄞", { "x-note": "café" }));
    server.route("GET", "/big", (r) => r.respond(200, big));
    server.route("GET", "/pushed", async (r) => {
      await r.push("☃".repeat(10_000)); // past the 16 KiB flush: goes out chunked
      await r.push("𝄞");
    });
    server.listen("127.0.0.1:0");
    const client = await RawClient.open(server);
    try {
      await client.send("GET /utf8 HTTP/1.1\r\nHost: x\r\n\r\n");
      const small = await client.response();
      assert.equal(small.body, "naïve ☃ 𝄞");
      assert.equal(small.headers.get("content-length"), String(bytes("naïve ☃ 𝄞").length));
      assert.equal(small.headers.get("x-note"), "café"); // sent as UTF-8, read as UTF-8
      await client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
      const large = await client.response();
      assert.equal(large.headers.get("content-length"), String(bytes(big).length));
      assert.equal(large.body, big);
      await client.send("GET /pushed HTTP/1.1\r\nHost: x\r\n\r\n");
      const pushed = await client.response();
      assert.equal(pushed.headers.get("transfer-encoding"), "chunked");
      assert.equal(pushed.body, "☃".repeat(10_000) + "𝄞");
    } finally {
      client.close();
      await server.close();
    }
  },
);

socketTest("request bodies arrive by length and chunked; 100-continue is sent", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  try {
    await client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert.equal((await client.response()).body, "hello");
    await client.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
    );
    assert.equal((await client.response()).body, "abcde");
    await client.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    assert.equal((await client.response()).status, 100);
    await client.send("xyz");
    assert.equal((await client.response()).body, "xyz");
  } finally {
    client.close();
    await server.close();
  }
});

socketTest("fetch POSTs a large body and gets it back", async () => {
  const server = testServer();
  try {
    const data = new Uint8Array(300_000).map((_, i) => i & 0xff);
    const response = await waitFor(fetch(`${server.url}/echo`, { method: "POST", body: data }));
    assert.deepEqual(new Uint8Array(await waitFor(response.arrayBuffer())), data);
  } finally {
    await server.close();
  }
});

socketTest(
  "limits: big heads and many fields get 431, big bodies 413, and the server lives",
  async () => {
    const server = testServer({ maxHeadBytes: 2048, maxHeaders: 10, maxBodyBytes: 1000 });
    try {
      const big = await RawClient.open(server);
      await big.send(`GET /hello/x HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(5000)}\r\n\r\n`);
      assert.equal((await big.response()).status, 431);
      big.close();
      const many = await RawClient.open(server);
      await many.send("GET /hello/x HTTP/1.1\r\nHost: x\r\n" + "a: b\r\n".repeat(20) + "\r\n");
      assert.equal((await many.response()).status, 431);
      many.close();
      const body = await RawClient.open(server);
      await body.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
      assert.equal((await body.response()).status, 413);
      body.close();
      const chunked = await RawClient.open(server);
      await chunked.send(
        `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${
          (2000).toString(16)
        }\r\n${"z".repeat(2000)}\r\n0\r\n\r\n`,
      );
      assert.equal((await chunked.response()).status, 413);
      chunked.close();
      const after = await waitFor(fetch(`${server.url}/hello/still`));
      assert.equal(await waitFor(after.text()), "hello still\n");
    } finally {
      await server.close();
    }
  },
);

socketTest("malformed requests get 400 and smuggling-shaped framing is refused", async () => {
  const server = testServer();
  try {
    for (
      const bad of [
        "GET /hello/x HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "NONSENSE\r\n\r\n",
      ]
    ) {
      const client = await RawClient.open(server);
      await client.send(bad);
      assert.equal((await client.response()).status, 400, JSON.stringify(bad));
      assert.equal(await client.closedByServer(), true);
      client.close();
    }
    const client = await RawClient.open(server);
    await client.send("GET / HTTP/3.0\r\n\r\n");
    assert.equal((await client.response()).status, 505);
    client.close();
  } finally {
    await server.close();
  }
});

socketTest("no match is 404; a failing handler is 500; an HttpError keeps its status", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  try {
    await client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await client.response()).status, 404);
    await client.send("GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
    const teapot = await client.response();
    assert.equal(teapot.status, 418);
    assert.match(teapot.body, /short and stout/);
    client.close();
    const again = await RawClient.open(server);
    await again.send("GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await again.response()).status, 500);
    again.close();
  } finally {
    await server.close();
  }
});

socketTest(
  "an idle connection is closed after the idle timeout; a slow head gets 408",
  async () => {
    const server = testServer({ idleTimeout: 0.05, headerTimeout: 0.05 });
    try {
      const idle = await RawClient.open(server);
      assert.equal(await idle.closedByServer(), true);
      idle.close();
      const slow = await RawClient.open(server);
      await slow.send("GET /hello/x HTTP/1.1\r\nHost: x\r\n");
      assert.equal((await slow.response()).status, 408);
      slow.close();
    } finally {
      await server.close();
    }
  },
);

socketTest("close() ends idle keep-alive connections and their threads", async () => {
  const server = testServer();
  const client = await RawClient.open(server);
  await client.send("GET /hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
  await client.response();
  assert.equal(server.statistics().open, 1);
  await withTimeout(2, () => server.close());
  assert.equal(server.statistics().open, 0);
  assert.equal(await client.closedByServer(), true);
  client.close();
});

socketTest(
  "close({ graceSeconds }): idle connections close at once, a request in flight finishes, one past the grace is shut down, no thread is left",
  async () => {
    const server = testServer();
    const outcomes: string[] = [];
    server.route("GET", "/slow/:ms", async (r) => {
      try {
        await sleep(Number(r.params.ms) / 1000);
        outcomes.push(`${r.params.ms} finished`);
      } catch (e) {
        outcomes.push(`${r.params.ms} ${(e as Error).name}`);
        throw e;
      }
      await r.respond(200, `slept ${r.params.ms}\n`);
    });
    const idle = await RawClient.open(server);
    await idle.send("GET /hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await idle.response()).status, 200);
    const slow = await RawClient.open(server);
    await slow.send("GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n");
    const stuck = await RawClient.open(server);
    await stuck.send("GET /slow/60000 HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(0.05); // both handlers are sleeping
    assert.equal(server.statistics().open, 3);
    const started = performance.now();
    const closing = spawn(() => server.close({ graceSeconds: 1 }));
    try {
      // The idle keep-alive connection is closed long before the slow request is done.
      assert.equal(await withTimeout(0.25, () => idle.closedByServer()), true);
      const reply = await slow.response();
      assert.equal(reply.status, 200);
      assert.equal(reply.body, "slept 300\n");
      assert.equal(reply.headers.get("connection"), "close");
      assert.equal(await slow.closedByServer(), true);
      assert.equal(await stuck.closedByServer(), true);
      await closing.join();
      const took = (performance.now() - started) / 1000;
      assert.ok(took >= 0.9 && took < 4, `close took ${took} s for a grace of 1 s`);
      assert.deepEqual(outcomes, ["300 finished", "60000 Shutdown"]);
      const stats = server.statistics();
      assert.equal(stats.open, 0);
      assert.equal(stats.closing, true);
      assert.equal(stats.threads.state, "closed");
      assert.equal(stats.threads.running, 0);
      assert.equal(stats.threads.failed, 0);
      const left = allThreads().filter((t) => t.name.startsWith("http"));
      assert.deepEqual(left.map(String), []);
    } finally {
      idle.close();
      slow.close();
      stuck.close();
    }
  },
);

socketTest("during close()'s grace the request deadlines still hold", async () => {
  const server = testServer({ bodyTimeout: 0.2 });
  const client = await RawClient.open(server);
  try {
    // A body announced and never sent: the handler waits for it until bodyTimeout.
    await client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    await sleep(0.05);
    const started = performance.now();
    await withTimeout(5, () => server.close({ graceSeconds: 30 }));
    const took = performance.now() - started;
    assert.ok(took < 2000, `close() took ${took} ms: the body deadline did not hold`);
    assert.equal(server.statistics().open, 0);
  } finally {
    client.close();
  }
});

socketTest("close() shuts a WebSocket down at once: it has no request to finish", async () => {
  const server = testServer();
  server.push(websocketHandler("/ws", async (ws) => {
    for await (const message of ws) if (message.type === "text") await ws.sendText(message.data);
  }));
  const ws = await connectWebSocket(`${server.url.replace("http", "ws")}/ws`);
  try {
    await ws.sendText("hi");
    assert.deepEqual(await withTimeout(5, () => ws.receive()), { type: "text", data: "hi" });
    const started = performance.now();
    const closing = spawn(() => server.close({ graceSeconds: 30 }));
    // The server's close frame comes at once; the client answers it as it reads.
    assert.equal(await withTimeout(5, () => ws.receive()), null);
    await withTimeout(5, () => closing.join());
    assert.ok(performance.now() - started < 3000, "close() waited for the WebSocket");
    assert.equal(server.statistics().open, 0);
  } finally {
    await ws.close();
  }
});

socketTest(
  "a connection thread that dies of a server bug is reported through the thread error hook; the server goes on",
  async () => {
    const reported: unknown[] = [];
    const old = setThreadErrorHook((_thread, error) => reported.push(error));
    const server = testServer({
      onError: () => {
        throw new Error("onError bug");
      },
    });
    try {
      const broken = await RawClient.open(server);
      await broken.send("GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(await broken.closedByServer(), true);
      broken.close();
      await sleep(0.01); // the report goes out on the next turn of the loop
      assert.deepEqual(reported.map((e) => (e as Error).message), ["onError bug"]);
      assert.equal(server.statistics().threads.failed, 1);
      const client = await RawClient.open(server);
      await client.send("GET /hello/again HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await client.response()).body, "hello again\n");
      client.close();
    } finally {
      setThreadErrorHook(old);
      await server.close();
    }
  },
);

socketTest("close() refuses serve() afterwards and closes the socket it was given", async () => {
  const server = testServer();
  await server.close({ graceSeconds: 0 });
  const listener = listenOn("127.0.0.1:0");
  try {
    const client = await connectTo(listener.localAddress());
    const [socket, peer] = await listener.accept();
    assert.throws(() => server.serve(socket, peer), ClosedError);
    assert.equal(socket.closed, true);
    client.close();
  } finally {
    listener.close();
  }
});

socketTest("static files: content, type, 304, HEAD, and no way out of the root", async () => {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/index.html`, "<h1>home</h1>");
  await Deno.mkdir(`${root}/sub`);
  await Deno.writeTextFile(`${root}/sub/data.json`, '{"a":1}');
  const server = new HttpServer();
  server.push(staticFilesHandler(root));
  server.listen("127.0.0.1:0");
  const client = await RawClient.open(server);
  try {
    await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const home = await client.response();
    assert.equal(home.body, "<h1>home</h1>");
    assert.match(home.headers.get("content-type")!, /text\/html/);
    await client.send("GET /sub/data.json HTTP/1.1\r\nHost: x\r\n\r\n");
    const json = await client.response();
    assert.equal(json.headers.get("content-type"), "application/json");
    await client.send(
      `GET /sub/data.json HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: ${
        json.headers.get("last-modified")
      }\r\n\r\n`,
    );
    assert.equal((await client.response()).status, 304);
    await client.send("HEAD /sub/data.json HTTP/1.1\r\nHost: x\r\n\r\n");
    const head = await client.response(true);
    assert.equal(head.headers.get("content-length"), "7");
    for (const escape of ["/../etc/passwd", "/sub/%2e%2e/%2e%2e/etc/passwd", "/missing"]) {
      await client.send(`GET ${escape} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal((await client.response()).status, 404, escape);
    }
  } finally {
    client.close();
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});

socketTest("the status page lists the server's threads; favicon is served", async () => {
  const server = new HttpServer();
  server.push(statusHandler()).push(faviconHandler());
  server.listen("127.0.0.1:0");
  try {
    const response = await waitFor(fetch(`${server.url}/status?format=json`));
    const threads = await waitFor(response.json()) as { id: number; name: string }[];
    assert.ok(threads.some((t) => t.name.startsWith("http acceptor")));
    assert.ok(threads.every((t) => threadById(t.id) !== undefined || t.name.startsWith("http ")));
    const icon = await waitFor(fetch(`${server.url}/favicon.ico`));
    assert.equal(icon.headers.get("content-type"), "image/x-icon");
    assert.ok((await waitFor(icon.arrayBuffer())).byteLength > 100);
  } finally {
    await server.close();
  }
});

socketTest("garbage: 200 random byte streams never hurt the server", async () => {
  const server = testServer({ headerTimeout: 0.2, idleTimeout: 0.2 });
  const random = prng(9);
  try {
    const clients = [];
    for (let i = 0; i < 200; i++) {
      const size = 20 + Math.floor(random() * 600);
      const junk = Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
      if (i % 3 === 0) junk.set(bytes("GET / HTTP/1.1\r\n"), 0);
      if (i % 5 === 0) junk.set(bytes("\r\n\r\n"), Math.max(0, size - 4));
      clients.push(spawn(async () => {
        const client = await RawClient.open(server);
        try {
          await client.send(junk);
          // Either an error status or a close: never a hang past the timeouts.
          const piece = await withTimeout(3, () => client.reader.readSome(100));
          if (piece.length > 0) assert.match(text(piece), /^HTTP\/1\.1 (400|404|408|413|431|505)/);
        } finally {
          client.close();
        }
      }));
    }
    for (const c of clients) await c.join();
    await sleep(0.01);
    const response = await waitFor(fetch(`${server.url}/hello/alive`));
    assert.equal(await waitFor(response.text()), "hello alive\n");
  } finally {
    await server.close();
  }
});

Deno.test("a peer that pipelines and never reads: a stalled send of held replies ends the connection, even past a handler that catches the deadline", async () => {
  // The peer sent three requests at once and reads nothing: the socket takes no byte.
  let delivered = false;
  const batch = bytes(
    "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /hello/3 HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  const stalled = new Set<(e: unknown) => void>();
  let closed = false;
  const stall = (what: string) =>
    waitFor(
      new Promise<number>((_resolve, reject) => {
        if (closed) reject(new ClosedError("closed"));
        else stalled.add(reject);
      }),
      what,
    );
  const fake = {
    close() {
      closed = true;
      for (const reject of stalled) reject(new ClosedError("closed"));
      stalled.clear();
    },
    tryRecvInto(buffer: Uint8Array): number {
      if (closed) throw new ClosedError("closed");
      if (delivered) return -1;
      delivered = true;
      buffer.set(batch);
      return batch.length;
    },
    waitForRead: () => stall("read"),
    trySend: () => 0,
    sendBorrowed: () => stall("send"),
    writev: () => stall("send"),
    send: () => stall("send"),
  };
  const server = new HttpServer({ sendTimeout: 0.2, onError: () => {} });
  server.route("GET", "/hello/:name", (r) => r.respond(200, `hello ${r.params.name}\n`));
  server.route("GET", "/slow", async (r) => {
    try {
      await sleep(0.6); // a slow backend, past the send deadline of the reply before
    } catch (e) {
      if (!(e instanceof Error)) throw e; // a handler that answers whatever happened
    }
    await r.respond(503, "busy\n");
  });
  const peer = { family: "ipv4" as const, host: "127.0.0.1", port: 1 };
  try {
    const thread = await spawn(() => server.serve(fake as unknown as Socket, peer)).join();
    const ended = await spawn(() =>
      withTimeout(3, () => thread.join()).then(() => "ended", (e) => e)
    ).join();
    assert.equal(ended, "ended", `the connection is still up: ${ended}`);
    assert.ok(closed, "its socket was not closed");
  } finally {
    await spawn(() => server.close()).join();
  }
});
