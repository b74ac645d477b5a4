/**
 * A fetch-style handler's request across its connection's life: `request.signal` aborts
 * when the client goes away and when the server shuts the connection down (a handler
 * awaiting only the signal, a streamed body that never ends), and `request.url` names
 * the scheme the client used (https over TLS, by itself).
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { stream, streamText } from "hono/streaming";
import { Shutdown } from "../../../core/errors.ts";
import { sleep } from "../../../core/sleep.ts";
import { Event as ShrapnelEvent } from "../../../core/sync/event.ts";
import {
  connectTo,
  type Socket,
  SocketReader,
  spawn,
  tlsConnect,
  withTimeout,
} from "../../../mod.ts";
import {
  fetchHandler,
  type FetchHandlerFunction,
  type FetchHandlerOptions,
  HttpClient,
  HttpServer,
} from "../../../proto/http/mod.ts";
import { certificateFiles } from "../../_servers.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

function ours(fn: FetchHandlerFunction, options?: FetchHandlerOptions): HttpServer {
  const server = new HttpServer({ onError: () => {} });
  server.push(fetchHandler(fn, options));
  return server;
}

/** Sends `request` on a new connection; returns the socket and a reader on it. */
async function open(server: HttpServer, request: string): Promise<[Socket, SocketReader]> {
  const socket = await connectTo(server.address);
  await socket.send(bytes(request));
  return [socket, new SocketReader(socket)];
}

/** Settles when `signal` aborts (a foreign promise: no blocking point of ours). */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

socketTest("a client going away aborts the signal a handler awaits", async () => {
  const started = new ShrapnelEvent();
  let reason: unknown = null;
  const done = new ShrapnelEvent();
  const server = ours(async (request) => {
    started.set();
    reason = await aborted(request.signal);
    done.set();
    return new Response("too late");
  });
  server.listen("127.0.0.1:0");
  try {
    const [socket] = await open(server, "GET /wait HTTP/1.1\r\nhost: x\r\n\r\n");
    await withTimeout(5, () => started.wait());
    socket.close();
    await withTimeout(5, () => done.wait());
    assert.ok(reason instanceof Error, `aborted with ${reason}`);
    assert.match((reason as Error).message, /went away/);
  } finally {
    await withTimeout(10, () => server.close());
  }
});

socketTest(
  "server.close() aborts request.signal and ends a streamed body once its grace is over",
  async () => {
    const waiting = new ShrapnelEvent();
    const seen: { waitReason: unknown; streamReason: unknown; cancelled: unknown } = {
      waitReason: null,
      streamReason: null,
      cancelled: null,
    };
    const server = ours(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/wait") {
        waiting.set();
        seen.waitReason = await aborted(request.signal);
        return new Response("after the close");
      }
      // Server-sent events that never end by themselves.
      request.signal.addEventListener("abort", () => seen.streamReason = request.signal.reason);
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => controller.enqueue(bytes("data: tick\n\n")), 20);
        },
        cancel(reason) {
          clearInterval(timer);
          seen.cancelled = reason ?? "cancelled";
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });
    server.listen("127.0.0.1:0");
    const sockets: Socket[] = [];
    try {
      const [waiter] = await open(server, "GET /wait HTTP/1.1\r\nhost: x\r\n\r\n");
      sockets.push(waiter);
      const [events, reader] = await open(server, "GET /sse HTTP/1.1\r\nhost: x\r\n\r\n");
      sockets.push(events);
      const head = await withTimeout(5, () => reader.readHead(65536));
      assert.match(text(head!), /^HTTP\/1\.1 200/);
      assert.match(text(head!), /transfer-encoding: chunked/i);
      await withTimeout(5, () => reader.readLine(100)); // the first chunk's size: it flows
      await withTimeout(5, () => waiting.wait());
      const t0 = performance.now();
      // Joined, not awaited: a close() that hangs fails here (the sockets' closing below
      // then lets it end).
      const closing = spawn(() => server.close({ graceSeconds: 0.2 }));
      await withTimeout(5, () => closing.join());
      assert.ok(performance.now() - t0 < 4000, "close() waited long past its grace");
      assert.ok(seen.waitReason instanceof Shutdown, `signal aborted with ${seen.waitReason}`);
      assert.ok(seen.streamReason instanceof Shutdown, `stream's signal: ${seen.streamReason}`);
      assert.ok(seen.cancelled !== null, "the response body's stream was cancelled");
      // The streamed connection ends: the client reads to its end without a hang.
      await withTimeout(5, async () => {
        while ((await reader.readSome(65536)).length > 0) { /* ticks sent before the close */ }
      });
    } finally {
      for (const socket of sockets) socket.close();
      await withTimeout(10, () => server.close());
    }
  },
);

/** One chunk of a chunked body ("" at the end). */
async function chunk(reader: SocketReader): Promise<string> {
  const size = parseInt((await withTimeout(5, () => reader.readLine(100)))!, 16);
  const data = size === 0 ? "" : text(await withTimeout(5, () => reader.readExact(size)));
  await withTimeout(5, () => reader.readLine(100));
  return data;
}

socketTest("Hono's stream and streamText helpers flush each write, not buffered", async () => {
  const gate = new ShrapnelEvent();
  const app = new Hono();
  app.get("/bytes", (c) =>
    stream(c, async (s) => {
      await s.write(new Uint8Array([104, 105])); // "hi"
      await gate.wait(); // our primitive: the piece above must be out by now
      await s.write("there");
    }));
  app.get("/text", (c) =>
    streamText(c, async (s) => {
      await s.writeln("line one");
      await gate.wait();
      await s.write("two");
    }));
  const server = ours(app.fetch);
  server.listen("127.0.0.1:0");
  try {
    for (
      const [path, first, second] of [["/bytes", "hi", "there"], ["/text", "line one\n", "two"]]
    ) {
      gate.clear();
      const [socket, reader] = await open(server, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
      try {
        const head = text((await withTimeout(5, () => reader.readHead(65536)))!);
        assert.match(head, /transfer-encoding: chunked/i, path);
        assert.equal((head.match(/transfer-encoding/gi) ?? []).length, 1, "one framing field");
        assert.equal(await chunk(reader), first, `${path}: sent while the handler waits`);
        gate.set();
        assert.equal(await chunk(reader), second, path);
        assert.equal(await chunk(reader), "", path);
      } finally {
        socket.close();
      }
    }
  } finally {
    await withTimeout(10, () => server.close());
  }
});

socketTest(
  "request.url follows each request's Host and target (made once, kept by target)",
  async () => {
    const server = ours((request) => new Response(request.url));
    server.listen("127.0.0.1:0");
    try {
      const long = `/${"a".repeat(300)}`;
      const asks: [string, string, string][] = [
        ["/same?q=1", "one.example", "http://one.example/same?q=1"],
        ["/same?q=1", "two.example:8080", "http://two.example:8080/same?q=1"],
        ["/same?q=1", "one.example", "http://one.example/same?q=1"],
        ["/other", "two.example:8080", "http://two.example:8080/other"],
        [long, "one.example", `http://one.example${long}`],
        [long, "two.example:8080", `http://two.example:8080${long}`],
      ];
      // Past the table's bound: it starts over, and every answer stays right.
      for (let i = 0; i < 300; i++) asks.push([`/n${i}`, "h", `http://h/n${i}`]);
      asks.push(["/same?q=1", "one.example", "http://one.example/same?q=1"]);
      const request = asks.map(([target, host]) =>
        `GET ${target} HTTP/1.1\r\nhost: ${host}\r\n\r\n`
      )
        .join("");
      const [socket, reader] = await open(server, request);
      try {
        for (const [target, , url] of asks) {
          const head = text((await withTimeout(5, () => reader.readHead(65536)))!);
          const length = Number(/content-length: (\d+)/i.exec(head)![1]);
          assert.equal(text(await withTimeout(5, () => reader.readExact(length))), url, target);
        }
        // A Host that cannot be part of a URL is refused, also after a good one was kept.
        await socket.send(bytes("GET /same?q=1 HTTP/1.1\r\nhost: one.example/evil\r\n\r\n"));
        const refused = text((await withTimeout(5, () => reader.readHead(65536)))!);
        assert.match(refused, /^HTTP\/1\.1 400/);
      } finally {
        socket.close();
      }
    } finally {
      await withTimeout(10, () => server.close());
    }
  },
);

let pem: { cert: string; key: string } | null = null;
async function certificate(): Promise<{ cert: string; key: string }> {
  if (pem !== null) return pem;
  const dir = await Deno.makeTempDir();
  const { cert, keyPath } = await certificateFiles(dir);
  return pem = { cert, key: await Deno.readTextFile(keyPath) };
}

socketTest(
  "request.url is https over TLS by itself (HTTP/1.1 and HTTP/2), http on plain TCP",
  async () => {
    const { cert, key } = await certificate();
    const urlOf: FetchHandlerFunction = (request, info) =>
      new Response(`${request.url} ${info.request.version}`);
    const servers: HttpServer[] = [];
    const clients: HttpClient[] = [];
    const client = (alpn: string[]) => {
      const made = new HttpClient({
        connect: async (host, port) =>
          (await tlsConnect(`${host}:${port}`, { caCerts: [cert], alpnProtocols: alpn })).socket,
      });
      clients.push(made);
      return made;
    };
    const ask = async (c: HttpClient, url: string) => await (await c.request(url)).text();
    try {
      const tls = ours(urlOf);
      servers.push(tls);
      const port = (tls.listenTls("127.0.0.1:0", { cert, key }).getsockname() as { port: number })
        .port;
      const base = `https://localhost:${port}`;
      assert.equal(await ask(client(["http/1.1"]), `${base}/a?b=1`), `${base}/a?b=1 HTTP/1.1`);
      assert.equal(await ask(client(["h2"]), `${base}/h2`), `${base}/h2 HTTP/2`);

      const plain = ours(urlOf);
      servers.push(plain);
      plain.listen("127.0.0.1:0");
      assert.equal(await ask(new HttpClient(), `${plain.url}/p`), `${plain.url}/p HTTP/1.1`);

      // A proxy that speaks TLS to us for plain-HTTP clients: the option says what they used.
      const proxied = ours(urlOf, { scheme: "http" });
      servers.push(proxied);
      const port2 = (proxied.listenTls("127.0.0.1:0", { cert, key }).getsockname() as {
        port: number;
      }).port;
      assert.equal(
        await ask(client(["http/1.1"]), `https://localhost:${port2}/q`),
        `http://localhost:${port2}/q HTTP/1.1`,
      );
      // X-Forwarded-Proto is not trusted by default: any client can send it.
      const [socket, reader] = await open(
        plain,
        "GET /f HTTP/1.1\r\nhost: h\r\nx-forwarded-proto: https\r\nconnection: close\r\n\r\n",
      );
      try {
        let answer = "";
        await withTimeout(5, async () => {
          for (let piece; (piece = await reader.readSome(65536)).length > 0;) answer += text(piece);
        });
        assert.match(answer, /http:\/\/h\/f HTTP\/1\.1$/);
      } finally {
        socket.close();
      }
    } finally {
      for (const c of clients) c.close();
      await spawn(async () => {
        for (const s of servers) await s.close();
      }).join();
      await sleep(0);
    }
  },
);
