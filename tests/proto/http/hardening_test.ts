/**
 * Issue 12's HTTP items, each tried as an attacker would: response splitting, HEAD's
 * length, stricter parsing (RFC 9112), and a deadline on every wait on the peer.
 */
import assert from "node:assert/strict";
import { connectTo, type Socket, SocketReader, withTimeout } from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  fetchHandler,
  HttpHeaders,
  HttpServer,
  type HttpServerOptions,
  InvalidFieldError,
} from "../../../proto/http/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

/** Sends `request` on a new connection; everything the server says until it closes. */
async function exchange(server: HttpServer, request: string, seconds = 5): Promise<string> {
  const socket = await connectTo(server.address);
  try {
    await socket.send(bytes(request));
    let out = "";
    await withTimeout(seconds, async () => {
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

function splittingServer(options: HttpServerOptions = {}) {
  const errors: unknown[] = [];
  const server = new HttpServer({ onError: (e) => errors.push(e), ...options });
  server.route(
    "GET",
    "/redirect",
    (r) => r.respond(302, "", { location: r.query.get("next") ?? "/" }),
  );
  server.route("GET", "/cookie", (r) => {
    r.replyHeaders.set("x-note", r.query.get("v") ?? "");
    return r.respond(200, "ok");
  });
  server.route("GET", "/add", (r) => {
    r.replyHeaders.add(r.query.get("name") ?? "x", "1");
    return r.respond(200, "ok");
  });
  server.route("GET", "/name", (r) => r.respond(200, "ok", { [r.query.get("name")!]: "1" }));
  server.route("GET", "/status", (r) => {
    r.status = Number(r.query.get("s"));
    return r.done("ok");
  });
  server.route("GET", "/hello", (r) => r.respond(200, "hello\n"));
  server.listen("127.0.0.1:0");
  return { server, errors };
}

socketTest(
  "response splitting: CR/LF in a reply field is a typed error, never on the wire",
  async () => {
    const { server, errors } = splittingServer();
    try {
      const attacks = [
        "/redirect?next=%2F%0D%0ASet-Cookie:%20evil=1",
        "/redirect?next=%2F%0AHTTP/1.1%20200%20OK",
        "/redirect?next=a%00b",
        "/cookie?v=x%0D%0ASet-Cookie:%20evil=1",
        "/add?name=x%0D%0ASet-Cookie",
        "/add?name=bad%20name",
        "/name?name=set-cookie:%20a%0D%0Ax",
        "/status?s=200%0D%0ASet-Cookie:%20evil=1",
        "/status?s=99",
      ];
      for (const path of attacks) {
        const reply = await exchange(
          server,
          `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        assert.match(reply, /^HTTP\/1\.1 500 /, `${path}: ${reply}`);
        assert.doesNotMatch(reply, /evil=1|set-cookie|HTTP\/1\.1 200/i, `${path}: ${reply}`);
        assert.equal(reply.match(/^HTTP\/1\.1/gm)?.length, 1, `${path}: one response only`);
      }
      assert.equal(errors.length, attacks.length);
      assert.ok(errors.every((e) => e instanceof InvalidFieldError), String(errors));
      // Good values still go out; the connection and the server live on.
      const ok = await exchange(
        server,
        "GET /redirect?next=%2Fhome HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      assert.match(ok, /^HTTP\/1\.1 302 [\s\S]*location: \/home\r\n/);
    } finally {
      await server.close();
    }
  },
);

Deno.test("HttpHeaders refuses malformed names and values and keeps what it had", () => {
  const h = new HttpHeaders({ a: "1" });
  for (
    const [name, value] of [["a", "x\r\ny"], ["a", "x\ny"], ["a", "x\0"], ["a b", "1"], ["", "1"], [
      "a:",
      "1",
    ]]
  ) {
    assert.throws(() => h.set(name, value), InvalidFieldError, JSON.stringify([name, value]));
    assert.throws(() => h.add(name, value), InvalidFieldError, JSON.stringify([name, value]));
  }
  assert.throws(() => new HttpHeaders([["x", "a\rb"]]), InvalidFieldError);
  assert.equal(h.get("a"), "1");
  assert.equal(h.size, 1);
  h.set("a", "tab\tand obs-text é"); // HTAB and non-ASCII are fine
  assert.equal(h.get("a"), "tab\tand obs-text é");
});

socketTest("HEAD gets GET's Content-Length and no body", async () => {
  const { server } = splittingServer();
  try {
    const get = await exchange(
      server,
      "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const head = await exchange(
      server,
      "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.match(get, /content-length: 6\r\n[\s\S]*\r\n\r\nhello\n$/);
    assert.match(head, /content-length: 6\r\n/);
    assert.ok(head.endsWith("\r\n\r\n"), JSON.stringify(head));
  } finally {
    await server.close();
  }
});

socketTest("parsing as strict as RFC 9112 and Deno.serve", async () => {
  const { server } = splittingServer();
  try {
    const bad = [
      "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /hello HTTP/1.1\r\n\r\n",
      "GET /hello HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
      "POST /hello HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\rc\r\nx\r\n0\r\n\r\n",
      "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: b\r\n folded\r\n\r\n",
      "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nbad name: b\r\n\r\n",
      "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: b\x01c\r\n\r\n",
      "GET /a\xffb HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for (const request of bad) {
      const body = request.startsWith("POST");
      if (body) {
        // A body is read by the handler: use a route that reads it.
        server.route("POST", "/hello", async (r) => r.respond(200, await r.body.text()));
      }
      const reply = await exchange(
        server,
        request.replace(/\xff/g, "\xff"),
      ).catch((e) => String(e));
      assert.match(reply, /^HTTP\/1\.1 400 /, `${JSON.stringify(request)}: ${reply}`);
    }
    // Blank lines before the request line are ignored (RFC 9112 2.2).
    for (const blank of ["\r\n", "\n", "\r\n\r\n"]) {
      const reply = await exchange(
        server,
        `${blank}GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.1 200 /, JSON.stringify(blank));
    }
    // HTTP/1.0 without Host is fine.
    assert.match(await exchange(server, "GET /hello HTTP/1.0\r\n\r\n"), /^HTTP\/1\.0 200 /);
  } finally {
    await server.close();
  }
});

socketTest("the byte 0xFF in a target is refused", async () => {
  const { server } = splittingServer();
  const socket = await connectTo(server.address);
  try {
    const request = bytes("GET /a_b HTTP/1.1\r\nHost: x\r\n\r\n");
    request[6] = 0xff;
    await socket.send(request);
    const head = await withTimeout(5, () => new SocketReader(socket).readHead(4096));
    assert.match(text(head!), /^HTTP\/1\.1 400 /);
  } finally {
    socket.close();
    await server.close();
  }
});

/** Whether the server closed `socket` within `seconds` (reads to the end, bounded). */
async function closedWithin(socket: Socket, seconds: number): Promise<boolean> {
  try {
    return await withTimeout(seconds, async () => {
      for (;;) if ((await socket.recv(65536)).length === 0) return true;
    });
  } catch {
    return false;
  }
}

socketTest("a body that never comes is cut off by bodyTimeout", async () => {
  const server = new HttpServer({ bodyTimeout: 0.2, onError: () => {} });
  server.route("POST", "/upload", async (r) => r.respond(200, await r.body.text()));
  server.listen("127.0.0.1:0");
  const socket = await connectTo(server.address);
  try {
    await socket.send(bytes("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
    assert.ok(await closedWithin(socket, 3), "the connection outlived bodyTimeout");
    assert.equal(server.statistics().open, 0);
  } finally {
    socket.close();
    await server.close();
  }
});

socketTest("an unread body trickled after the reply: skip bounded in time and bytes", async () => {
  const server = new HttpServer({ bodyTimeout: 0.3, maxSkipBytes: 1000 });
  server.route("POST", "/ignore", (r) => r.respond(200, "ignored"));
  server.listen("127.0.0.1:0");
  try {
    // Time: a body that never finishes.
    const slow = await connectTo(server.address);
    await slow.send(bytes("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"));
    assert.ok(await closedWithin(slow, 3), "the skip waited forever");
    slow.close();
    // Bytes: a body larger than maxSkipBytes closes at once, the reply sent first.
    const big = await connectTo(server.address);
    await big.send(
      bytes(
        `POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${"x".repeat(5000)}`,
      ),
    );
    const start = performance.now();
    assert.ok(await closedWithin(big, 3));
    assert.ok(performance.now() - start < 250, "closed by the byte cap, not the deadline");
    big.close();
  } finally {
    await server.close();
  }
});

socketTest("a client that never reads a large reply is cut off by sendTimeout", async (backend) => {
  const server = new HttpServer({ sendTimeout: 0.3, onError: () => {} });
  const big = "x".repeat(16 << 20);
  let failed: unknown = null;
  server.route("GET", "/big", async (r) => {
    try {
      await r.respond(200, big);
    } catch (e) {
      failed = e;
      throw e;
    }
  });
  server.route("GET", "/stream", async (r) => {
    for (let i = 0; i < 10_000; i++) await r.push("y".repeat(16384));
  });
  server.listen("127.0.0.1:0");
  try {
    for (const path of ["/big", "/stream"]) {
      const socket = await connectTo(server.address);
      await socket.send(bytes(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
      // Never read: the server's send fills the buffers and stalls.
      await withTimeout(5, async () => {
        while (server.statistics().open > 0) await sleep(0.02);
      });
      socket.close();
    }
    assert.ok(failed !== null, `${backend}: the stalled respond did not fail`);
  } finally {
    await server.close();
  }
});

socketTest(
  "a chunk's data not followed by CRLF is the client's error: 400, no onError",
  async () => {
    const errors: unknown[] = [];
    const server = new HttpServer({ onError: (e) => errors.push(e) });
    server.route("POST", "/echo", async (r) => r.respond(200, await r.body.text()));
    server.listen("127.0.0.1:0");
    try {
      for (
        const chunk of [
          "3\r\nabcXX0\r\n\r\n",
          "3\r\nabcX\r\n0\r\n\r\n",
          "3\r\nabcdef\r\n0\r\n\r\n",
        ]
      ) {
        const reply = await exchange(
          server,
          `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`,
        );
        assert.match(reply, /^HTTP\/1\.1 400 /, JSON.stringify(chunk.slice(0, 20)));
        assert.match(reply, /chunk not followed by CRLF/);
      }
      assert.deepEqual(errors, []);
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "a client that never reads a streamed fetchHandler body is cut off by sendTimeout",
  async () => {
    const server = new HttpServer({ sendTimeout: 0.3, onError: () => {} });
    const piece = new Uint8Array(16384).fill(121);
    server.push(fetchHandler(() =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(piece); // without end
          },
        }),
      )
    ));
    server.listen("127.0.0.1:0");
    try {
      const socket = await connectTo(server.address);
      try {
        await socket.send(bytes("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"));
        await withTimeout(5, async () => {
          while (server.statistics().open === 0) await sleep(0.02);
        });
        // Never read: the body's pump fills the buffers and stalls.
        await withTimeout(5, async () => {
          while (server.statistics().open > 0) await sleep(0.02);
        });
      } finally {
        socket.close();
      }
    } finally {
      await server.close();
    }
  },
);
