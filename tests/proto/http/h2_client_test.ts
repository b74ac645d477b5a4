/**
 * HttpClient over HTTP/2: ALPN picks h2 for https origins, concurrent requests from many
 * threads share one connection; against our server and against Deno.serve.
 */
import assert from "node:assert/strict";
import { connectTls, joinAll, Latch, sleep, spawn, withTimeout } from "../../../mod.ts";
import { HttpClient, HttpServer } from "../../../proto/http/mod.ts";
import { certificateFiles } from "../../_servers.ts";
import { socketTest } from "../../net/_backends.ts";

let pem: { cert: string; key: string } | null = null;
async function certificate(): Promise<{ cert: string; key: string }> {
  if (pem !== null) return pem;
  const dir = await Deno.makeTempDir();
  const { cert, keyPath } = await certificateFiles(dir);
  return pem = { cert, key: await Deno.readTextFile(keyPath) };
}

/** Connections the test clients opened. */
let connects = 0;

function h2Client(cert: string, alpn = ["h2", "http/1.1"]): HttpClient {
  return new HttpClient({
    connect: async (host, port) => {
      connects++;
      return (await connectTls(`${host}:${port}`, { caCerts: [cert], alpnProtocols: alpn }))
        .socket;
    },
  });
}

socketTest("h2 client: 50 threads' requests multiplexed over one connection", async () => {
  const { cert, key } = await certificate();
  const server = new HttpServer({ onError: () => {} });
  server.route("GET", "/n/:i", (r) => r.respond(200, `${r.params.i} ${r.version}`));
  server.route("POST", "/echo", async (r) => r.respond(200, await r.body.bytes()));
  server.listenTls("127.0.0.1:0", { cert, key });
  const client = h2Client(cert);
  try {
    const url = server.url.replace("127.0.0.1", "localhost");
    const threads = Array.from({ length: 50 }, (_, i) =>
      spawn(async () => {
        const r = await client.request(`${url}/n/${i}`);
        return `${r.status} ${await r.text()}`;
      }));
    const answers = await joinAll(threads);
    answers.forEach((a, i) => assert.equal(a, `200 ${i} HTTP/2`));
    const big = new Uint8Array(2 << 20).map((_, i) => i & 0xff);
    const echo = await client.request(`${url}/echo`, { method: "POST", body: big });
    assert.deepEqual(await echo.bytes(), big);
    assert.equal(server.statistics().connections, 1);
    assert.equal(server.statistics().requests, 51);
  } finally {
    client.close();
    await server.close();
  }
}, { only: "deno" });

socketTest(
  "h2 client: a server's GOAWAY lets the request in flight finish; the next reconnects",
  async () => {
    const { cert, key } = await certificate();
    const started = new Latch<void>();
    const make = (release: Latch<void>) => {
      const server = new HttpServer({ onError: () => {} });
      server.route("GET", "/slow", async (r) => {
        started.release();
        await release.wait();
        await r.respond(200, "slow done");
      });
      server.route("GET", "/quick", (r) => r.respond(200, "quick"));
      return server;
    };
    const release = new Latch<void>();
    const first = make(release);
    const socket = first.listenTls("127.0.0.1:0", { cert, key });
    const port = (socket.localAddress() as { port: number }).port;
    const client = h2Client(cert);
    const url = `https://localhost:${port}`;
    try {
      const slow = spawn(async () => await (await client.request(`${url}/slow`)).text());
      await withTimeout(5, () => started.wait()); // the request is in flight
      const closing = spawn(() => first.close());
      await sleep(0.1);
      release.release();
      assert.equal(await withTimeout(5, () => slow.join()), "slow done");
      await withTimeout(10, () => closing.join());
      // A new server on the same port: the client's next request opens a new connection.
      const second = make(release);
      second.listenTls(`127.0.0.1:${port}`, { cert, key });
      try {
        const quick = await withTimeout(5, () => client.request(`${url}/quick`));
        assert.equal(await quick.text(), "quick");
      } finally {
        await second.close();
      }
    } finally {
      client.close();
    }
  },
  { only: "deno" },
);

socketTest("h2 client: a server choosing http/1.1 by ALPN gets the HTTP/1.1 pool", async () => {
  const { cert, key } = await certificate();
  const server = new HttpServer({ onError: () => {} });
  server.route("GET", "/", (r) => r.respond(200, r.version));
  server.listenTls("127.0.0.1:0", { cert, key, alpnProtocols: ["http/1.1"] });
  const client = h2Client(cert);
  try {
    const url = server.url.replace("127.0.0.1", "localhost");
    for (let i = 0; i < 3; i++) {
      assert.equal(await (await client.request(`${url}/`)).text(), "HTTP/1.1");
    }
    assert.equal(server.statistics().connections, 1);
  } finally {
    client.close();
    await server.close();
  }
}, { only: "deno" });

Deno.test({
  name: "h2 client: against Deno.serve over TLS",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { cert, key } = await certificate();
    const ac = new AbortController();
    const served = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, signal: ac.signal, onListen() {} },
      async (req) => new Response(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`),
    );
    try {
      await spawn(async () => {
        connects = 0;
        const client = h2Client(cert);
        try {
          const url = `https://localhost:${served.addr.port}`;
          const threads = Array.from({ length: 20 }, (_, i) =>
            spawn(async () => {
              const r = await client.request(`${url}/p${i}`, { method: "POST", body: `b${i}` });
              return await r.text();
            }));
          const answers = await joinAll(threads);
          answers.forEach((a, i) => assert.equal(a, `POST /p${i} b${i}`));
          // 20 requests at once over one connection: HTTP/2 (HTTP/1.1 would open up to 6).
          assert.equal(connects, 1);
        } finally {
          client.close();
        }
      }).join();
    } finally {
      ac.abort();
      await served.finished;
    }
  },
});

socketTest(
  "h2 client: a connector offering no ALPN is said once, and HTTP/1.1 is used",
  async () => {
    const { cert, key } = await certificate();
    const server = new HttpServer({ onError: () => {} });
    server.route("GET", "/", (r) => r.respond(200, r.version));
    server.listenTls("127.0.0.1:0", { cert, key });
    const client = new HttpClient({
      connect: async (host, port) =>
        (await connectTls(`${host}:${port}`, { caCerts: [cert] })).socket,
    });
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      const url = server.url.replace("127.0.0.1", "localhost");
      for (let i = 0; i < 3; i++) {
        assert.equal(await (await client.request(`${url}/`)).text(), "HTTP/1.1");
      }
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /without ALPN.*alpnProtocols.*http2: false/);
    } finally {
      console.warn = warn;
      client.close();
      await server.close();
    }
  },
  { only: "deno" },
);

socketTest("h2 client: the default connector (caCerts) offers h2 and gets it", async () => {
  const { cert, key } = await certificate();
  const server = new HttpServer({ onError: () => {} });
  server.route("GET", "/v", (r) => r.respond(200, r.version));
  server.listenTls("127.0.0.1:0", { cert, key });
  const client = new HttpClient({ caCerts: [cert] });
  try {
    const url = server.url.replace("127.0.0.1", "localhost");
    const versions = await joinAll(
      Array.from(
        { length: 20 },
        () => spawn(async () => await (await client.request(`${url}/v`)).text()),
      ),
    );
    assert.deepEqual(new Set(versions), new Set(["HTTP/2"]));
    assert.equal(server.statistics().connections, 1);
  } finally {
    client.close();
    await server.close();
  }
}, { only: "deno" });
