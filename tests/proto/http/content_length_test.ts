/**
 * A handler's Content-Length that disagrees with its body must never reach the wire as
 * is: the body's extra bytes would be read as the next response of a pipelined
 * connection (a forged response), and a short body would swallow the next one.
 */
import assert from "node:assert/strict";
import { connectTo, withTimeout } from "../../../mod.ts";
import {
  ContentLengthError,
  fetchHandler,
  HttpServer,
  type HttpServerOptions,
} from "../../../proto/http/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

const FORGED = "AAAAHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nPWNED!";
const PIPELINED = (path: string) =>
  `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\nGET /second HTTP/1.1\r\nhost: x\r\n\r\n`;

/** Sends `request` on a new connection; everything the server says until it closes. */
async function exchange(server: HttpServer, request: string): Promise<string> {
  const socket = await connectTo(server.address);
  try {
    await socket.send(bytes(request));
    let out = "";
    await withTimeout(5, async () => {
      for (;;) {
        const piece = await socket.recv(65536);
        if (piece.length === 0) return;
        out += text(piece);
      }
    });
    return out;
  } finally {
    socket.close();
  }
}

/** The responses in `wire`, framed by Content-Length as a client reads them. */
function framed(wire: string): { head: string; body: string }[] {
  const out: { head: string; body: string }[] = [];
  let rest = wire;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = rest.slice(0, end);
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

function serverWith(options: HttpServerOptions = {}) {
  const errors: unknown[] = [];
  const server = new HttpServer({ onError: (e) => errors.push(e), ...options });
  return { server, errors };
}

socketTest("a whole body with another Content-Length is a 500, nothing forged", async () => {
  const { server, errors } = serverWith();
  server.route("GET", "/fields", (r) => r.respond(200, FORGED, { "content-length": "4" }));
  server.route("GET", "/headers", (r) => {
    r.replyHeaders.set("Content-Length", "4");
    return r.done(FORGED);
  });
  server.route("GET", "/long", (r) => r.respond(200, "short", { "content-length": "100" }));
  server.route("GET", "/list", (r) => r.respond(200, "abcd", { "content-length": "4, 4" }));
  server.route("GET", "/ok", (r) => r.respond(200, "abcd", { "content-length": "4" }));
  server.route("HEAD", "/head", (r) => r.respond(200, "", { "content-length": "1234" }));
  server.route("GET", "/second", (r) => r.respond(200, "second, legit"));
  server.listen("127.0.0.1:0");
  try {
    for (const path of ["/fields", "/headers", "/long", "/list"]) {
      const wire = await exchange(server, PIPELINED(path));
      assert.ok(!wire.includes("PWNED"), `${path}: ${wire}`);
      const replies = framed(wire);
      assert.equal(replies.length, 1, `${path}: ${wire}`);
      assert.match(replies[0].head, /^HTTP\/1\.1 500 /);
    }
    assert.equal(errors.length, 4);
    for (const e of errors) assert.ok(e instanceof ContentLengthError, String(e));
    assert.equal((errors[0] as ContentLengthError).declared, "4");
    assert.equal((errors[0] as ContentLengthError).actual, bytes(FORGED).length);
    // Agreeing lengths, and HEAD's length of the body a GET would have, go out as set.
    const ok = framed(await exchange(server, PIPELINED("/ok") + "GET /x HTTP/1.1\r\n\r\n"));
    assert.equal(ok[0].body, "abcd");
    assert.equal(ok[1].body, "second, legit");
    const head = await exchange(
      server,
      "HEAD /head HTTP/1.1\r\nhost: x\r\n\r\nGET /second HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert.match(head, /content-length: 1234\r\n/);
    assert.match(head, /\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*second, legit$/);
    assert.equal(errors.length, 4);
  } finally {
    await server.close();
  }
});

socketTest("a streamed body is counted against its Content-Length", async () => {
  const { server, errors } = serverWith();
  const big = "x".repeat(16384); // one flush
  server.route("GET", "/over-first", async (r) => {
    r.replyHeaders.set("content-length", "10");
    await r.push(big);
    await r.done();
  });
  server.route("GET", "/over-later", async (r) => {
    r.replyHeaders.set("content-length", String(big.length + 4));
    await r.push(big);
    await r.done(FORGED);
  });
  server.route("GET", "/short", async (r) => {
    r.replyHeaders.set("content-length", String(big.length + 100));
    await r.push(big);
    await r.done();
  });
  server.route("GET", "/exact", async (r) => {
    r.replyHeaders.set("content-length", String(big.length + 4));
    await r.push(big);
    await r.done("tail");
  });
  server.route("GET", "/second", (r) => r.respond(200, "second, legit"));
  server.listen("127.0.0.1:0");
  try {
    // Past the length before the head went out: an error page, nothing of the body.
    let wire = await exchange(server, PIPELINED("/over-first"));
    assert.match(wire, /^HTTP\/1\.1 500 /);
    assert.ok(!wire.includes("xxxx") && !wire.includes("second, legit"), wire);
    // Past the length after: the piece that would pass it is refused whole, then the
    // close; the client sees a short body, never the next response.
    wire = await exchange(server, PIPELINED("/over-later"));
    let replies = framed(wire);
    assert.equal(replies.length, 1);
    assert.ok(!wire.includes("AAAA") && !wire.includes("second, legit"));
    assert.equal(wire.length, replies[0].head.length + 4 + big.length);
    // Shorter than declared: closed after it, so the next reply is never read as its end.
    wire = await exchange(server, PIPELINED("/short"));
    assert.ok(wire.endsWith(big) && !wire.includes("second, legit"), wire.slice(-40));
    assert.match(wire, /^HTTP\/1\.1 200 /);
    // Exactly the length: the connection carries the next request.
    replies = framed(await exchange(server, PIPELINED("/exact") + "GET /x HTTP/1.1\r\n\r\n"));
    assert.equal(replies[0].body, big + "tail");
    assert.equal(replies[1].body, "second, legit");
    assert.equal(errors.length, 2);
    for (const e of errors) assert.ok(e instanceof ContentLengthError, String(e));
  } finally {
    await server.close();
  }
});

socketTest("fetch adapter: a Response's Content-Length must agree with its body", async () => {
  const { server, errors } = serverWith();
  server.push(fetchHandler((request) => {
    const path = new URL(request.url).pathname;
    const headers = { "content-length": "4" };
    if (path === "/static") return new Response(FORGED, { headers });
    if (path === "/many") {
      const response = new Response(FORGED, { headers });
      response.headers.append("set-cookie", "a=1");
      response.headers.append("set-cookie", "b=2");
      return response;
    }
    if (path === "/stream" || path === "/stream-short") {
      const body = path === "/stream" ? FORGED : "ab";
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(bytes(body));
            controller.close();
          },
        }),
        { headers },
      );
    }
    return new Response("second, legit");
  }));
  server.listen("127.0.0.1:0");
  try {
    for (const path of ["/static", "/many", "/stream"]) {
      const wire = await exchange(server, PIPELINED(path));
      assert.ok(!wire.includes("PWNED") && !wire.includes("second, legit"), `${path}: ${wire}`);
      assert.match(wire, /^HTTP\/1\.1 500 /, path);
    }
    const wire = await exchange(server, PIPELINED("/stream-short"));
    assert.ok(wire.endsWith("\r\n\r\nab") && !wire.includes("second, legit"), wire);
    assert.equal(errors.length, 3);
    for (const e of errors) assert.ok(e instanceof ContentLengthError, String(e));
  } finally {
    await server.close();
  }
});
