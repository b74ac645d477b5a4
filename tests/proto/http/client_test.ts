/** The HTTP client: pooling, pipelining, chunked uploads, interop, bad servers. */
import assert from "node:assert/strict";
import {
  ClosedError,
  EOFError,
  listenOn,
  SocketError,
  SocketReader,
  spawn,
  TimeoutError,
  waitFor,
  withTimeout,
} from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  HttpClient,
  HttpProtocolError,
  HttpServer,
  InvalidFieldError,
  type RequestInit,
} from "../../../proto/http/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";
import { withFakePeer } from "../../_servers.ts";

function server(): HttpServer {
  const s = new HttpServer({ onError: () => {} });
  s.route("GET", "/n/:n", (r) => r.respond(200, `n=${r.params.n}`));
  s.route("POST", "/echo", async (r) => {
    const body = await r.body.bytes();
    await r.respond(200, body, { "x-chunked": String(r.headers.has("transfer-encoding")) });
  });
  s.route("GET", "/slow", async (r) => {
    await sleep(5);
    await r.respond(200, "late");
  });
  s.route("GET", "/close", (r) => r.respond(200, "bye", { connection: "close" }));
  s.listen("127.0.0.1:0");
  return s;
}

socketTest("sequential requests reuse one keep-alive connection", async () => {
  const s = server();
  const client = new HttpClient();
  try {
    for (let i = 0; i < 5; i++) {
      const response = await client.request(`${s.url}/n/${i}`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), `n=${i}`);
    }
    assert.equal(s.statistics().connections, 1);
    assert.deepEqual(Object.values(client.statistics()), [{ idle: 1, open: 1 }]);
  } finally {
    client.close();
    await s.close();
  }
});

socketTest(
  "Connection: close is honoured, and the next request opens a new connection",
  async () => {
    const s = server();
    const client = new HttpClient();
    try {
      assert.equal(await (await client.request(`${s.url}/close`)).text(), "bye");
      assert.equal(await (await client.request(`${s.url}/n/2`)).text(), "n=2");
      assert.equal(s.statistics().connections, 2);
    } finally {
      client.close();
      await s.close();
    }
  },
);

socketTest("pipelined requests go out together on one connection, answers in order", async () => {
  const s = server();
  const client = new HttpClient();
  try {
    const answers = await client.pipeline([
      { url: `${s.url}/n/1` },
      { url: `${s.url}/echo`, init: { method: "POST", body: "posted" } },
      { url: `${s.url}/n/3` },
    ]);
    assert.deepEqual(answers.map((a) => text(a.body)), ["n=1", "posted", "n=3"]);
    assert.equal(s.statistics().connections, 1);
  } finally {
    client.close();
    await s.close();
  }
});

/** A streamed body with an empty piece in it. */
async function* pieces(): AsyncGenerator<Uint8Array> {
  yield bytes("one,");
  yield new Uint8Array(0); // must not end the body early
  yield bytes("two,");
  yield bytes("x".repeat(100_000));
}

socketTest(
  "a streamed body goes out chunked (empty pieces skipped) and arrives whole",
  async () => {
    const s = server();
    const client = new HttpClient();
    try {
      const response = await client.request(`${s.url}/echo`, { method: "POST", body: pieces() });
      assert.equal(response.headers.get("x-chunked"), "true");
      const body = await response.text();
      assert.equal(body.length, 8 + 100_000);
      assert.ok(body.startsWith("one,two,x"));
    } finally {
      client.close();
      await s.close();
    }
  },
);

socketTest("the pool caps connections per origin; waiting requests get freed ones", async () => {
  const s = server();
  const client = new HttpClient({ maxConnectionsPerOrigin: 2 });
  try {
    const threads = Array.from(
      { length: 6 },
      (_, i) => spawn(async () => await (await client.request(`${s.url}/n/${i}`)).text()),
    );
    const results = [];
    for (const t of threads) results.push(await withTimeout(5, () => t.join()));
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5].map((i) => `n=${i}`));
    assert.ok(s.statistics().connections <= 2);
  } finally {
    client.close();
    await s.close();
  }
});

socketTest("a pooled connection the server dropped is replaced without an error", async () => {
  const s = new HttpServer({ idleTimeout: 0.05 });
  s.route("GET", "/", (r) => r.respond(200, "ok"));
  s.listen("127.0.0.1:0");
  const client = new HttpClient();
  try {
    assert.equal(await (await client.request(`${s.url}/`)).text(), "ok");
    await sleep(0.3); // the server closes the idle connection
    assert.equal(await (await client.request(`${s.url}/`)).text(), "ok");
    assert.equal(s.statistics().connections, 2);
  } finally {
    client.close();
    await s.close();
  }
});

socketTest("a timeout interrupts a slow request; the client stays usable", async () => {
  const s = server();
  const client = new HttpClient();
  try {
    await assert.rejects(withTimeout(0.05, () => client.request(`${s.url}/slow`)), TimeoutError);
    assert.equal(await (await client.request(`${s.url}/n/7`)).text(), "n=7");
  } finally {
    client.close();
    await s.close({ graceSeconds: 0 }); // the abandoned /slow handler is still asleep
  }
});

socketTest("the client talks to Deno.serve", async () => {
  const ac = new AbortController();
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => new Response(`deno got ${req.method} ${await req.text()}`),
  );
  const client = new HttpClient();
  try {
    const url = `http://127.0.0.1:${deno.addr.port}/`;
    assert.equal(
      await (await client.request(url, { method: "POST", body: "hi" })).text(),
      "deno got POST hi",
    );
    assert.equal(await (await client.request(url)).text(), "deno got GET ");
  } finally {
    client.close();
    ac.abort();
    await waitFor(deno.finished);
  }
});

socketTest("a malformed response is a HttpProtocolError (502), never a hang", async () => {
  const fake = listenOn("127.0.0.1:0");
  const replies = [
    "HTTP/1.1 2x0 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "garbage\r\n\r\n",
  ];
  const server = spawn(async () => {
    for (const reply of replies) {
      const [conn] = await fake.accept();
      await new SocketReader(conn).readHead(4096);
      await conn.send(bytes(reply));
      conn.close();
    }
  });
  const client = new HttpClient();
  try {
    for (const reply of replies) {
      const error = await withTimeout(2, async () => {
        const response = await client.request(
          `http://127.0.0.1:${(fake.localAddress() as { port: number }).port}/`,
        );
        await response.bytes();
      }).catch((e) => e);
      assert.ok(error instanceof HttpProtocolError, `${JSON.stringify(reply)}: ${error}`);
    }
    await server.join();
  } finally {
    client.close();
    fake.close();
  }
});

/**
 * A server that answers the first request on each connection, then reads the next one
 * whole and drops the connection without a word (as a server does that closes an idle
 * connection while a request is on its way). Counts the requests it read, by method.
 */
function droppingServer(partialReply = "") {
  const listener = listenOn("127.0.0.1:0");
  const seen: string[] = [];
  const conns: import("../../../mod.ts").Socket[] = [];
  const acceptor = spawn(async () => {
    for (;;) {
      const [conn] = await listener.accept().catch(() => [null]);
      if (conn === null) return;
      conns.push(conn);
      spawn(async () => {
        const reader = new SocketReader(conn);
        try {
          for (let n = 0;; n++) {
            const head = await reader.readHead(4096);
            if (head === null) return;
            const line = text(head).split("\r\n")[0];
            seen.push(line.split(" ")[0]);
            const length = /content-length: (\d+)/i.exec(text(head));
            if (length) await reader.readExact(Number(length[1]));
            if (n === 0) await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
            else {
              if (partialReply) await conn.send(bytes(partialReply));
              return;
            }
          }
        } catch (e) {
          if (!(e instanceof ClosedError)) throw e; // closed by the test's end
        } finally {
          conn.close();
        }
      });
    }
  });
  const port = (listener.localAddress() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close() {
      listener.close();
      for (const c of conns) c.close();
      acceptor.shutdown();
    },
  };
}

socketTest("a POST on a dropped pooled connection is not replayed (RFC 9110 9.2.2)", async () => {
  const fake = droppingServer();
  const client = new HttpClient();
  try {
    assert.equal(await (await client.request(fake.url)).text(), "ok");
    const error = await withTimeout(
      2,
      () => client.request(fake.url, { method: "POST", body: "pay" }),
    )
      .catch((e) => e);
    assert.ok(error instanceof EOFError || error instanceof SocketError, String(error));
    await sleep(0.05);
    assert.deepEqual(fake.seen, ["GET", "POST"], "the POST was sent twice");
  } finally {
    client.close();
    fake.close();
  }
});

socketTest("idempotent requests are replayed once; others when the caller says so", async () => {
  const fake = droppingServer();
  const client = new HttpClient();
  try {
    assert.equal(await (await client.request(fake.url)).text(), "ok");
    // The GET is read and dropped on the pooled connection, then sent again on a new one.
    assert.equal(await (await withTimeout(2, () => client.request(fake.url))).text(), "ok");
    const put = await withTimeout(2, () => client.request(fake.url, { method: "PUT", body: "x" }));
    assert.equal(await put.text(), "ok");
    const retried = await withTimeout(
      2,
      () => client.request(fake.url, { method: "POST", body: "x", idempotent: true }),
    );
    assert.equal(retried.status, 200);
    await retried.text();
    assert.deepEqual(fake.seen, ["GET", "GET", "GET", "PUT", "PUT", "POST", "POST"]);
  } finally {
    client.close();
    fake.close();
  }
});

socketTest("a response that had begun is never replayed, even for GET", async () => {
  const fake = droppingServer("HTTP/1.1 20");
  const client = new HttpClient();
  try {
    assert.equal(await (await client.request(fake.url)).text(), "ok");
    const error = await withTimeout(2, () => client.request(fake.url)).catch((e) => e);
    assert.ok(error instanceof EOFError || error instanceof SocketError, String(error));
    assert.deepEqual(fake.seen, ["GET", "GET"]);
  } finally {
    client.close();
    fake.close();
  }
});

socketTest("request header fields and methods are checked before anything is sent", async () => {
  const fake = droppingServer();
  const client = new HttpClient();
  try {
    for (
      const init of <RequestInit[]> [
        { headers: { "x-note": "a\r\nx-injected: 1" } },
        { headers: { "x-note": "a\nb" } },
        { headers: { "x-note": "a\0b" } },
        { headers: { "bad name": "x" } },
        { headers: { "x\r\ny": "x" } },
        { method: "GET /evil HTTP/1.1\r\nx:" },
      ]
    ) {
      await assert.rejects(client.request(fake.url, init), InvalidFieldError, JSON.stringify(init));
    }
    assert.deepEqual(fake.seen, []);
  } finally {
    client.close();
    fake.close();
  }
});

socketTest(
  "a body declared over maxBodyBytes drops its connection: its bytes never pass for the next response",
  async () => {
    // The body of the first answer is itself an answer: on a reused connection it would be
    // taken as the reply to the next request (response smuggling).
    const smuggled = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nevil!";
    await withFakePeer(async (conn) => {
      let head = "";
      while (!head.includes("\r\n\r\n")) head += text(await conn.recv(4096));
      await conn.send(
        bytes(`HTTP/1.1 200 OK\r\ncontent-length: ${smuggled.length}\r\n\r\n${smuggled}`),
      );
      await conn.recv(4096); // a second request on this connection: answered by the body
    }, async (port) => {
      const client = new HttpClient({ maxBodyBytes: 10, headTimeoutSeconds: 2 });
      try {
        const url = `http://127.0.0.1:${port}/f`;
        const first = await client.request(url);
        await assert.rejects(first.bytes(), /larger than 10 bytes/);
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
        // A new connection: the fake peer takes no second one, so this request times out.
        const second = await client.request(url).then((r) => r.text(), (e) => e);
        assert.notEqual(second, "evil!");
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "a 101 Switching Protocols answer takes its connection out of the pool: what follows is another protocol",
  async () => {
    await withFakePeer(async (conn) => {
      let head = "";
      while (!head.includes("\r\n\r\n")) head += text(await conn.recv(4096));
      // Switched: the bytes after it are the other protocol's, here made to look like HTTP.
      await conn.send(bytes(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n" +
          "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nevil!",
      ));
      await conn.recv(4096);
    }, async (port) => {
      const client = new HttpClient({ headTimeoutSeconds: 1 });
      try {
        const url = `http://127.0.0.1:${port}/chat`;
        const switched = await client.request(url, {
          headers: { upgrade: "websocket", connection: "upgrade" },
        });
        assert.equal(switched.status, 101);
        await switched.release();
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
        const next = await client.request(url).then((r) => r.text(), (e) => e);
        assert.notEqual(next, "evil!");
      } finally {
        client.close();
      }
    });
  },
);
