/**
 * Fetch-style handlers on our server: real Hono apps run on `Deno.serve` and on our
 * server in the same test, their answers compared; then what only our server does
 * (blocking on our primitives, a client that goes away, backpressure), spoken to by raw
 * sockets where framing matters.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { basicAuth } from "hono/basic-auth";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { HTTPException } from "hono/http-exception";
import { stream, streamSSE, streamText } from "hono/streaming";
import { defineWebSocketHelper, WSContext } from "hono/ws";
import { Interrupted } from "../../../core/errors.ts";
import { sleep } from "../../../core/sleep.ts";
import { Event as ShrapnelEvent } from "../../../core/sync/event.ts";
import { Mutex } from "../../../core/sync/mutex.ts";
import { connectTo, type Socket, SocketReader, waitFor, withTimeout } from "../../../mod.ts";
import {
  fetchHandler,
  type FetchHandlerFunction,
  type FetchHandlerInfo,
  HttpServer,
  upgradeWebSocket,
} from "../../../proto/http/mod.ts";
import { connectWebSocket } from "../../../proto/websocket/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";
import { curl, curlAvailable } from "./_curl.ts";

/** Our server running `fn`; closed by the caller. */
function ours(fn: FetchHandlerFunction, maxBodyBytes?: number): HttpServer {
  const server = new HttpServer({ onError: () => {}, maxBodyBytes });
  server.push(fetchHandler(fn));
  server.listen("127.0.0.1:0");
  return server;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** The header fields compared between the two servers (framing fields differ by design). */
const COMPARED = [
  "content-type",
  "location",
  "etag",
  "www-authenticate",
  "access-control-allow-origin",
  "access-control-allow-methods",
  "vary",
  "x-middleware",
  "x-powered-by",
  "cache-control",
];

async function ask(
  client: Deno.HttpClient,
  url: string,
  init: RequestInit = {},
): Promise<Answer> {
  const response = await waitFor(fetch(url, { ...init, client, redirect: "manual" }));
  const headers: Record<string, string | string[]> = {};
  for (const name of COMPARED) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  let body = await waitFor(response.text());
  const type = response.headers.get("content-type") ?? "";
  if (type.startsWith("multipart/form-data")) {
    // The boundary is random: compare the parsed form instead.
    const form = await waitFor(
      new Response(body, { headers: { "content-type": type } }).formData(),
    );
    body = JSON.stringify([...form].map(([k, v]) => [k, String(v)]));
    headers["content-type"] = "multipart/form-data";
  }
  return { status: response.status, headers, body };
}

/**
 * Runs `app` on Deno.serve and on our server, sends each request to both, and asserts the
 * answers are the same.
 */
async function compare(
  app: { fetch: FetchHandlerFunction },
  requests: { path: string; init?: RequestInit; expect?: number }[],
): Promise<void> {
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch as Deno.ServeHandler,
  );
  const server = ours(app.fetch);
  const client = Deno.createHttpClient({});
  try {
    const denoBase = `http://127.0.0.1:${deno.addr.port}`;
    for (const { path, init, expect } of requests) {
      const theirs = await ask(client, denoBase + path, init);
      const mine = await ask(client, server.url + path, init);
      assert.deepEqual(mine, theirs, `${init?.method ?? "GET"} ${path}`);
      if (expect !== undefined) assert.equal(mine.status, expect, path);
    }
  } finally {
    client.close();
    await server.close();
    await waitFor(deno.shutdown());
  }
}

function honoApp(): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    c.header("x-middleware", "after");
  });
  app.onError((e, c) => {
    if (e instanceof HTTPException) return e.getResponse();
    return c.text(`failed: ${(e as Error).message}`, 500);
  });
  app.get("/", (c) => c.text("Hello Hono!"));
  app.get("/json", (c) => c.json({ message: "Hello", list: [1, 2, 3] }));
  app.get("/hello/:name", (c) => c.text(`hello ${c.req.param("name")} ${c.req.query("x")}`));
  app.post("/echo", async (c) => c.json({ got: await c.req.json() }, 201));
  app.put("/text", async (c) => c.text((await c.req.text()).toUpperCase()));
  app.post("/form", async (c) => c.json(await c.req.parseBody()));
  app.get("/headers", (c) => c.json({ ua: c.req.header("x-test"), all: c.req.header("x-many") }));
  app.get("/cookies", (c) => {
    c.header("set-cookie", "a=1; Path=/", { append: true });
    c.header("set-cookie", "b=2; HttpOnly", { append: true });
    return c.text("cookies");
  });
  app.get("/redirect", (c) => c.redirect("/json"));
  app.get("/empty", (c) => c.body(null, 204));
  app.get("/bytes", (c) => c.body(new Uint8Array([0, 1, 2, 255])));
  app.get("/blob", () => new Response(new Blob(["blob body"], { type: "text/x-blob" })));
  app.get("/formdata", () => {
    const form = new FormData();
    form.set("a", "1");
    form.set("b", "two");
    return new Response(form);
  });
  app.get("/params", () => new Response(new URLSearchParams({ q: "a b", r: "c" })));
  app.get("/stream", (c) =>
    stream(c, async (s) => {
      for (let i = 0; i < 3; i++) await s.write(new TextEncoder().encode(`piece ${i}\n`));
    }));
  app.get("/stream-text", (c) =>
    streamText(c, async (s) => {
      await s.writeln("line one");
      await s.write("line two");
    }));
  app.get("/sse", (c) =>
    streamSSE(c, async (s) => {
      for (let i = 0; i < 3; i++) await s.writeSSE({ event: "tick", id: `${i}`, data: `n=${i}` });
    }));
  app.get("/sized-stream", () =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("0123456789"));
          controller.close();
        },
      }),
      { headers: { "content-length": "10", "content-type": "text/plain" } },
    ));
  app.get("/error", () => {
    throw new Error("handler bug");
  });
  app.get("/denied", () => {
    throw new HTTPException(401, { message: "go away" });
  });
  app.get("/async", async (c) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return c.json({ waited: true });
  });
  app.use("/tagged/*", etag());
  app.get("/tagged/x", (c) => c.text("same body every time"));
  app.use("/api/*", cors({ origin: "http://example.test" }));
  app.get("/api/data", (c) => c.json({ data: 1 }));
  app.use("/private/*", basicAuth({ username: "u", password: "p" }));
  app.get("/private/x", (c) => c.text("secret"));
  return app;
}

socketTest(
  "Hono on our server answers as on Deno.serve: routing, middleware, JSON, bodies",
  async () => {
    await compare(honoApp(), [
      { path: "/", expect: 200 },
      { path: "/json" },
      { path: "/hello/world?x=42" },
      { path: "/nowhere", expect: 404 },
      {
        path: "/echo",
        init: { method: "POST", body: JSON.stringify({ a: [1, "b"] }) },
        expect: 201,
      },
      { path: "/text", init: { method: "PUT", body: "shout" } },
      {
        path: "/form",
        init: { method: "POST", body: new URLSearchParams({ k: "v", n: "2" }) },
      },
      { path: "/headers", init: { headers: [["x-test", "yes"], ["x-many", "1"]] } },
      { path: "/cookies" },
      { path: "/redirect", expect: 302 },
      { path: "/empty", expect: 204 },
      { path: "/bytes" },
      { path: "/blob" },
      { path: "/formdata" },
      { path: "/params" },
      { path: "/sized-stream" },
      { path: "/error", expect: 500 },
      { path: "/denied", expect: 401 },
      { path: "/async" },
      { path: "/", init: { method: "HEAD" } },
      { path: "/json", init: { method: "HEAD" } },
      { path: "/json", init: { method: "DELETE" }, expect: 404 },
    ]);
  },
);

socketTest("Hono middleware on our server as on Deno.serve: etag, cors, basic auth", async () => {
  const app = honoApp();
  const tag = await (await app.fetch(new Request("http://x/tagged/x"))).headers.get("etag")!;
  await compare(app, [
    { path: "/tagged/x", expect: 200 },
    { path: "/tagged/x", init: { headers: { "if-none-match": tag } }, expect: 304 },
    { path: "/api/data", init: { headers: { origin: "http://example.test" } } },
    {
      path: "/api/data",
      init: {
        method: "OPTIONS",
        headers: { origin: "http://example.test", "access-control-request-method": "PUT" },
      },
      expect: 204,
    },
    { path: "/private/x", expect: 401 },
    { path: "/private/x", init: { headers: { authorization: `Basic ${btoa("u:p")}` } } },
  ]);
});

socketTest(
  "Hono streaming helpers on our server as on Deno.serve: stream, streamText, SSE",
  async () => {
    await compare(honoApp(), [
      { path: "/stream" },
      { path: "/stream-text" },
      { path: "/sse" },
    ]);
  },
);

/** A raw HTTP/1.1 exchange on one connection, for framing and timing. */
class Raw {
  readonly socket: Socket;
  readonly reader: SocketReader;
  private constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket);
  }
  static async open(server: HttpServer): Promise<Raw> {
    return new Raw(await connectTo(server.address));
  }
  async send(data: string | Uint8Array): Promise<void> {
    await this.socket.send(typeof data === "string" ? bytes(data) : data);
  }
  async head(): Promise<{ status: number; headers: Map<string, string> }> {
    const head = await withTimeout(5, () => this.reader.readHead(65536));
    assert.ok(head !== null, "closed before a response");
    const lines = text(head).split("\r\n").filter((l) => l !== "");
    return {
      status: Number(lines[0].split(" ")[1]),
      headers: new Map(
        lines.slice(1).map((l) => {
          const i = l.indexOf(":");
          return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
        }),
      ),
    };
  }
  /** One chunk of a chunked body ("" at the end). */
  async chunk(): Promise<string> {
    const size = parseInt((await withTimeout(5, () => this.reader.readLine(100)))!, 16);
    const data = size === 0 ? "" : text(await this.reader.readExact(size));
    await this.reader.readLine(100);
    return data;
  }
  async response(): Promise<{ status: number; headers: Map<string, string>; body: string }> {
    const { status, headers } = await this.head();
    let body = "";
    if (headers.get("transfer-encoding") === "chunked") {
      for (let piece; (piece = await this.chunk()) !== "";) body += piece;
    } else {
      const length = Number(headers.get("content-length") ?? 0);
      if (length > 0) body = text(await this.reader.readExact(length));
    }
    return { status, headers, body };
  }
  close(): void {
    this.socket.close();
  }
}

socketTest(
  "a handler blocks on our primitives and is interrupted when its client goes away",
  async () => {
    const mutex = new Mutex();
    const seen = { interrupted: false, aborted: false, started: new ShrapnelEvent() };
    const server = ours(async (request) => {
      const guard = await mutex.lock();
      try {
        seen.started.set();
        await sleep(10);
        return new Response("slept");
      } catch (e) {
        seen.interrupted = e instanceof Interrupted;
        seen.aborted = request.signal.aborted;
        throw e;
      } finally {
        guard[Symbol.dispose]();
      }
    });
    try {
      const raw = await Raw.open(server);
      await raw.send("GET /slow HTTP/1.1\r\nhost: x\r\n\r\n");
      await withTimeout(5, () => seen.started.wait());
      const t0 = performance.now();
      raw.close();
      await withTimeout(5, async () => {
        while (!seen.interrupted) await sleep(0.01);
      });
      assert.ok(performance.now() - t0 < 2000, "interrupted long after the client left");
      assert.equal(seen.aborted, true, "request.signal aborted");
      // The server goes on: the mutex was released, the next request is served.
      const again = await Raw.open(server);
      await again.send("GET /x HTTP/1.1\r\nhost: x\r\n\r\n");
      seen.started.clear();
      const wait = withTimeout(5, () => seen.started.wait());
      await wait;
      again.close();
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "the request body is a stream read as consumed (backpressure), with 100-continue",
  async () => {
    const paused = new ShrapnelEvent();
    const resume = new ShrapnelEvent();
    let receivedWhilePaused = -1;
    const server = ours(async (request, info) => {
      const reader = request.body!.getReader();
      let total = 0;
      const first = await reader.read();
      total += first.value!.length;
      paused.set();
      await resume.wait();
      receivedWhilePaused = info.request._bodyIfAny!.received;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
      }
      return Response.json({ total });
    }, 64 << 20);
    try {
      const size = 16 << 20;
      const raw = await Raw.open(server);
      await raw.send(
        `POST /up HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: ${size}\r\n\r\n`,
      );
      const interim = await raw.head();
      assert.equal(interim.status, 100);
      const sender = (await import("../../../core/thread.ts")).spawn(async () => {
        const piece = new Uint8Array(1 << 20).fill(120);
        for (let sent = 0; sent < size; sent += piece.length) await raw.send(piece);
      });
      await withTimeout(10, () => paused.wait());
      await sleep(0.2); // the client keeps sending meanwhile; the server must not read on
      resume.set();
      const answer = await raw.response();
      await sender.join();
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { total: size });
      assert.ok(
        receivedWhilePaused < 4 << 20,
        `${receivedWhilePaused} bytes read while the handler was not reading`,
      );
      raw.close();
    } finally {
      await server.close();
    }
  },
);

socketTest("server-sent events go out as they are produced, not buffered", async () => {
  const gate = new ShrapnelEvent();
  const app = new Hono();
  app.get("/events", (c) =>
    streamSSE(c, async (s) => {
      await s.writeSSE({ data: "first" });
      await gate.wait(); // our primitive, in the connection's thread
      await s.writeSSE({ data: "second" });
    }));
  const server = ours(app.fetch);
  try {
    const raw = await Raw.open(server);
    await raw.send("GET /events HTTP/1.1\r\nhost: x\r\n\r\n");
    const head = await raw.head();
    assert.equal(head.headers.get("content-type"), "text/event-stream");
    assert.equal(head.headers.get("transfer-encoding"), "chunked");
    assert.equal(await raw.chunk(), "data: first\n\n"); // while the handler waits on the gate
    gate.set();
    assert.equal(await raw.chunk(), "data: second\n\n");
    assert.equal(await raw.chunk(), "");
    raw.close();
  } finally {
    await server.close();
  }
});

socketTest(
  "keep-alive and pipelining carry over; HEAD has no body; info tells the peer",
  async () => {
    let completed = 0;
    const server = ours((request, info: FetchHandlerInfo) => {
      info.completed.then(() => completed++);
      const addr = info.remoteAddr as Deno.NetAddr;
      return Response.json({
        url: request.url,
        method: request.method,
        peer: addr.hostname,
        real: request instanceof Request,
        cache: request.cache,
        copy: new Request(request).url,
      });
    });
    try {
      const raw = await Raw.open(server);
      await raw.send(
        "GET /a?x=1 HTTP/1.1\r\nhost: example.test\r\n\r\n" +
          "HEAD /b HTTP/1.1\r\nhost: example.test\r\n\r\n" +
          "GET /c HTTP/1.1\r\nhost: example.test\r\nconnection: close\r\n\r\n",
      );
      const a = await raw.response();
      assert.deepEqual(JSON.parse(a.body), {
        url: "http://example.test/a?x=1",
        method: "GET",
        peer: "127.0.0.1",
        real: true,
        cache: "default",
        copy: "http://example.test/a?x=1",
      });
      const b = await raw.head();
      assert.equal(b.status, 200);
      const bodyOfB = JSON.stringify({
        url: "http://example.test/b",
        method: "HEAD",
        peer: "127.0.0.1",
        real: true,
        cache: "default",
        copy: "http://example.test/b",
      });
      assert.equal(b.headers.get("content-length"), String(bodyOfB.length), "a GET's length");
      const c = await raw.response();
      assert.equal(JSON.parse(c.body).url, "http://example.test/c");
      assert.equal(c.headers.get("connection"), "close");
      assert.equal(await raw.reader.readSome(10).then((p) => p.length), 0, "closed after close");
      raw.close();
      await sleep(0.01);
      assert.equal(completed, 3);
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "a body over the server's limit is refused with 413 before the handler runs",
  async () => {
    let ran = false;
    const server = ours(() => {
      ran = true;
      return new Response("no");
    }, 1024);
    try {
      const raw = await Raw.open(server);
      await raw.send("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4096\r\n\r\n");
      assert.equal((await raw.response()).status, 413);
      assert.equal(ran, false);
      raw.close();
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "upgradeWebSocket: Deno's shape, our connection; Hono's WebSocket helper adapts",
  async () => {
    // Hono's Deno helper with our upgradeWebSocket in place of Deno.upgradeWebSocket.
    const honoUpgrade = defineWebSocketHelper((c, events) => {
      if (c.req.header("upgrade") !== "websocket") return;
      const { response, socket } = upgradeWebSocket(c.req.raw);
      const ws = new WSContext({
        close: (code, reason) => socket.close(code, reason),
        get protocol() {
          return socket.protocol;
        },
        raw: socket,
        get readyState() {
          return socket.readyState as 0 | 1 | 2 | 3;
        },
        url: new URL(socket.url),
        send: (source) => socket.send(source),
      });
      socket.onopen = (e) => events.onOpen?.(e, ws);
      socket.onmessage = (e) => events.onMessage?.(e, ws);
      socket.onclose = (e) => events.onClose?.(e as CloseEvent, ws);
      return response;
    });
    const closed: number[] = [];
    const app = new Hono();
    app.get(
      "/hono",
      honoUpgrade(() => ({
        onMessage: (e, ws) => ws.send(`hono ${e.data}`),
        onClose: (e) => closed.push((e as CloseEvent).code),
      })),
    );
    app.get("/plain", (c) => {
      const { socket, response } = upgradeWebSocket(c.req.raw);
      socket.binaryType = "arraybuffer";
      socket.addEventListener("open", () => socket.send("welcome"));
      socket.onmessage = (e) => {
        // A WebSocket's send queues and returns nothing (the plugin knows `socket` as ours
        // from another test in this file).
        // deno-lint-ignore shrapnel/no-unawaited-blocking
        if (typeof e.data === "string") socket.send(`echo ${e.data}`);
        // deno-lint-ignore shrapnel/no-unawaited-blocking
        else socket.send(new Uint8Array(e.data as ArrayBuffer).reverse());
        if (e.data === "bye") socket.close(4000, "asked to");
      };
      return response;
    });
    app.get("/not-ws", (c) => {
      try {
        upgradeWebSocket(c.req.raw);
        return c.text("upgraded?!");
      } catch (e) {
        return c.text((e as Error).message, 400);
      }
    });
    const server = ours(app.fetch);
    try {
      const base = server.url.replace("http", "ws");
      const hono = await connectWebSocket(`${base}/hono`);
      await hono.sendText("hi");
      assert.deepEqual(await withTimeout(5, () => hono.receive()), {
        type: "text",
        data: "hono hi",
      });
      await hono.close();

      const plain = await connectWebSocket(`${base}/plain`);
      assert.deepEqual(await withTimeout(5, () => plain.receive()), {
        type: "text",
        data: "welcome",
      });
      await plain.sendBinary(new Uint8Array([1, 2, 3]));
      assert.deepEqual(await withTimeout(5, () => plain.receive()), {
        type: "binary",
        data: new Uint8Array([3, 2, 1]),
      });
      await plain.sendText("bye");
      assert.deepEqual(await withTimeout(5, () => plain.receive()), {
        type: "text",
        data: "echo bye",
      });
      assert.equal(await withTimeout(5, () => plain.receive()), null);
      assert.equal(plain.closeCode, 4000);

      const raw = await Raw.open(server);
      await raw.send("GET /not-ws HTTP/1.1\r\nhost: x\r\n\r\n");
      const refused = await raw.response();
      assert.equal(refused.status, 400);
      assert.match(refused.body, /upgrade/);
      raw.close();
      await withTimeout(5, async () => {
        while (closed.length === 0) await sleep(0.01);
      });
      assert.equal(closed[0], 1000);
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "hostile requests: a bad Host, a chunked body past the limit, a handler returning junk",
  async () => {
    const server = ours(async (request) => {
      if (new URL(request.url).pathname === "/junk") return "not a response" as unknown as Response;
      return new Response(`${(await request.text()).length} bytes from ${request.url}`);
    }, 1024);
    try {
      const raw = await Raw.open(server);
      await raw.send("GET / HTTP/1.1\r\nhost: evil/../x y\r\n\r\n");
      assert.equal((await raw.response()).status, 400);
      raw.close();

      const big = await Raw.open(server);
      await big.send(
        "POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n" +
          "800\r\n" + "x".repeat(2048) + "\r\n0\r\n\r\n",
      );
      assert.equal((await big.response()).status, 413);
      big.close();

      const junk = await Raw.open(server);
      await junk.send("GET /junk HTTP/1.1\r\nhost: x\r\n\r\n");
      assert.equal((await junk.response()).status, 500);
      junk.close();
      // HTTP/1.0 without a Host: the URL names the server's own address.
      const legacy = await Raw.open(server);
      await legacy.send("GET /old HTTP/1.0\r\n\r\n");
      const old = await legacy.response();
      assert.equal(old.status, 200);
      assert.equal(old.body, `0 bytes from ${server.url}/old`);
      legacy.close();
    } finally {
      await server.close();
    }
  },
);

const noCurl = !curlAvailable() && Deno.env.get("CI") !== "true";
socketTest(
  `a Hono app answers over HTTP/2 too (curl, prior knowledge)${
    noCurl ? " (skipped: no curl)" : ""
  }`,
  async () => {
    const server = ours(honoApp().fetch);
    try {
      const h2 = ["--http2-prior-knowledge"];
      const hello = await waitFor(curl(...h2, `${server.url}/hello/h2?x=1`));
      assert.equal(hello.status, 200);
      assert.match(hello.heads, /^HTTP\/2 200/);
      assert.equal(hello.body, "hello h2 1");
      const posted = await waitFor(
        curl(...h2, "-H", "content-type: application/json", "-d", '{"n":2}', `${server.url}/echo`),
      );
      assert.equal(posted.status, 201);
      assert.deepEqual(JSON.parse(posted.body), { got: { n: 2 } });
      const sse = await waitFor(curl(...h2, `${server.url}/sse`));
      assert.equal(sse.body.split("\n\n").filter((e) => e !== "").length, 3);
      assert.match(sse.heads, /content-type: text\/event-stream/);
    } finally {
      await server.close();
    }
  },
  { ignore: noCurl },
);
