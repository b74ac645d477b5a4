/**
 * The HTTP client's default deadlines against servers that go silent: one that accepts and
 * never answers, one that stops in the middle of a body, one that never finishes a TLS
 * handshake. Each ends in an HttpTimeoutError naming its phase, within bounds.
 */
import assert from "node:assert/strict";
import { listenOn, sleep, type Socket, spawn, type Thread } from "../../../mod.ts";
import { HttpClient, HttpTimeoutError } from "../../../proto/http/mod.ts";
import { bytes, socketTest } from "../../net/_backends.ts";

/** A server on a free port whose connections `serve` handles; stopped afterwards. */
async function withSilentServer(
  serve: (conn: Socket) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const listener = listenOn("127.0.0.1:0");
  const { port } = listener.localAddress() as { port: number };
  const held: Socket[] = [];
  const threads: Thread[] = [];
  const acceptor = spawn(async () => {
    for (let i = 0; i < 8; i++) {
      const [conn] = await listener.accept();
      held.push(conn);
      threads.push(spawn(() => serve(conn)));
    }
  });
  try {
    await body(port);
  } finally {
    acceptor.shutdown();
    for (const t of threads) if (!t.dead) t.shutdown();
    for (const c of held) c.close();
    listener.close();
  }
}

const within = (t0: number, seconds: number) =>
  assert.ok(performance.now() - t0 < seconds * 1000, "the deadline was not kept");

socketTest("a server that accepts and never answers: the head deadline passes", async () => {
  await withSilentServer(async (conn) => {
    await conn.recv(4096); // the request, never answered
    await conn.recv(4096);
  }, async (port) => {
    const client = new HttpClient({ headTimeoutSeconds: 0.2 });
    try {
      const t0 = performance.now();
      await assert.rejects(
        client.request(`http://127.0.0.1:${port}/`),
        (e: unknown) => e instanceof HttpTimeoutError && e.phase === "head",
      );
      within(t0, 3);
    } finally {
      client.close();
    }
  });
});

socketTest("a body that stops coming: each read's idle deadline passes", async () => {
  await withSilentServer(async (conn) => {
    await conn.recv(4096);
    await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nfirst bytes"));
    await conn.recv(4096); // and nothing more
  }, async (port) => {
    const client = new HttpClient({ bodyIdleTimeoutSeconds: 0.2 });
    try {
      const response = await client.request(`http://127.0.0.1:${port}/`);
      assert.equal(response.status, 200);
      const t0 = performance.now();
      await assert.rejects(
        response.bytes(),
        (e: unknown) => e instanceof HttpTimeoutError && e.phase === "body",
      );
      within(t0, 3);
    } finally {
      client.close();
    }
  });
});

socketTest("a TLS server that never shakes hands: the connect deadline passes", async () => {
  await withSilentServer(async (conn) => {
    await conn.recv(4096); // the ClientHello, never answered
    await conn.recv(4096);
  }, async (port) => {
    const client = new HttpClient({ connectTimeoutSeconds: 0.3 });
    try {
      const t0 = performance.now();
      await assert.rejects(
        client.request(`https://127.0.0.1:${port}/`),
        (e: unknown) => e instanceof HttpTimeoutError && e.phase === "connect",
      );
      within(t0, 3);
    } finally {
      client.close();
    }
  });
});

socketTest("the whole request is bounded too, redirects included", async () => {
  await withSilentServer(async (conn) => {
    // Every request is redirected to itself, slowly: only the total deadline ends it.
    for (;;) {
      await conn.recv(4096);
      await sleep(0.05);
      await conn.send(bytes("HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n"));
    }
  }, async (port) => {
    const client = new HttpClient({ requestTimeoutSeconds: 0.3, maxRedirects: 1000 });
    try {
      const t0 = performance.now();
      await assert.rejects(
        client.request(`http://127.0.0.1:${port}/`),
        (e: unknown) => e instanceof HttpTimeoutError && e.phase === "request",
      );
      within(t0, 3);
    } finally {
      client.close();
    }
  });
});
