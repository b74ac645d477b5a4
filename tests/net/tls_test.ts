/** TLS by Deno's TLS on either backend: a self-signed certificate made by openssl. */
import assert from "node:assert/strict";
import {
  connectTls,
  listenTls,
  spawn,
  startTls,
  TlsError,
  waitFor,
  withTimeout,
} from "../../mod.ts";
import { HttpClient, HttpServer } from "../../proto/http/mod.ts";
import { connectWebSocket, websocketHandler } from "../../proto/websocket/mod.ts";
import { connectTo, listenOn, setBackend, SocketError } from "../../mod.ts";
import { bytes, socketTest, text } from "./_backends.ts";
import { testCertificate } from "../proto/http/_test_ca.ts";

const pair = await testCertificate();
const ci = Deno.env.get("CI") === "true";
const missing = pair === null ? " (skipped: no openssl to make a certificate)" : "";
const tlsTest = (
  name: string,
  body: (tls: { cert: string; key: string; ca: string }) => Promise<void>,
) =>
  socketTest(`${name}${ci ? "" : missing}`, () => {
    if (pair === null) throw new Error("openssl is missing (CI must install it)");
    return body(pair);
  }, { ignore: pair === null && !ci });

tlsTest("a TLS echo with ALPN: the server's preference among the client's offers", async (tls) => {
  const server = listenTls("127.0.0.1:0", {
    cert: tls.cert,
    key: tls.key,
    alpnProtocols: ["h2", "http/1.1"],
  });
  const { port } = server.localAddress() as { port: number };
  const echo = spawn(async () => {
    const [conn] = await server.accept();
    const data = await conn.recv(100);
    await conn.send(data);
    conn.close();
  });
  const { socket, alpnProtocol } = await withTimeout(
    5,
    () => connectTls(`localhost:${port}`, { caCerts: [tls.ca], alpnProtocols: ["http/1.1"] }),
  );
  assert.equal(alpnProtocol, "http/1.1");
  await socket.send(bytes("secret"));
  assert.equal(text(await withTimeout(5, () => socket.recvExact(6))), "secret");
  await echo.join();
  socket.close();
  server.close();
});

tlsTest("an untrusted certificate is a TlsError", async (tls) => {
  const server = listenTls("127.0.0.1:0", tls);
  const { port } = server.localAddress() as { port: number };
  const acceptor = spawn(async () => {
    const [conn] = await server.accept();
    try {
      await conn.recv(1); // the client gives up during the handshake
    } catch (e) {
      if (!(e instanceof TlsError || e instanceof SocketError)) throw e;
    }
    conn.close();
  });
  await assert.rejects(withTimeout(5, () => connectTls(`localhost:${port}`)), TlsError);
  await withTimeout(5, () => acceptor.join());
  server.close();
});

tlsTest("HTTPS: our server, our client and Deno's fetch", async (tls) => {
  const server = new HttpServer();
  server.route("GET", "/", (r) => r.respond(200, "over tls"));
  server.listenTls("127.0.0.1:0", tls);
  const url = server.url.replace("127.0.0.1", "localhost");
  assert.match(url, /^https:/);
  const client = new HttpClient({
    connect: async (host, port) =>
      (await connectTls(`${host}:${port}`, { caCerts: [tls.ca] })).socket,
  });
  try {
    assert.equal(await (await client.request(url)).text(), "over tls");
    assert.equal(await (await client.request(url)).text(), "over tls"); // pooled over TLS too
    const http = Deno.createHttpClient({ caCerts: [tls.ca] });
    const response = await waitFor(fetch(url, { client: http }));
    assert.equal(await waitFor(response.text()), "over tls");
    http.close();
  } finally {
    client.close();
    await server.close();
  }
});

tlsTest("wss:// with our WebSocket client", async (tls) => {
  const server = new HttpServer();
  server.push(websocketHandler("/ws", async (ws) => {
    for await (const m of ws) if (m.type === "text") await ws.sendText(m.data.toUpperCase());
  }));
  server.listenTls("127.0.0.1:0", tls);
  try {
    const { port } = server.address as { port: number };
    const ws = await connectWebSocket(`wss://localhost:${port}/ws`, {
      connect: async (host, p) => (await connectTls(`${host}:${p}`, { caCerts: [tls.ca] })).socket,
    });
    await ws.sendText("quiet");
    assert.deepEqual(await withTimeout(5, () => ws.receive()), { type: "text", data: "QUIET" });
    await ws.close();
  } finally {
    await server.close();
  }
});

tlsTest("STARTTLS upgrades a plain connection on the Deno backend", async (tls) => {
  const old = setBackend("deno");
  try {
    const plain = listenOn("127.0.0.1:0");
    const tlsPort = listenTls("127.0.0.1:0", tls); // the "upgraded" side, as a TLS listener
    const { port: tp } = tlsPort.localAddress() as { port: number };
    // A relay: plain bytes in, then the same bytes to the TLS listener (so the server side
    // of the upgrade is Deno's TLS listener).
    const relay = spawn(async () => {
      const [conn] = await plain.accept();
      assert.equal(text(await conn.recvExact(9)), "STARTTLS\n");
      await conn.send(bytes("GO\n"));
      const upstream = await connectTo(`127.0.0.1:${tp}`);
      const pump = (from: typeof conn, to: typeof conn) =>
        spawn(async () => {
          try {
            for (;;) {
              const d = await from.recv(16384);
              if (d.length === 0) break;
              await to.send(d);
            }
          } catch { /* closed */ }
          to.close();
        });
      const a = pump(conn, upstream), b = pump(upstream, conn);
      await a.join();
      await b.join();
    });
    const echo = spawn(async () => {
      const [conn] = await tlsPort.accept();
      await conn.send(await conn.recv(100));
      conn.close();
    });
    const client = await connectTo(plain.localAddress());
    await client.send(bytes("STARTTLS\n"));
    assert.equal(text(await client.recvExact(3)), "GO\n");
    const { socket } = await withTimeout(
      5,
      () => startTls(client, { hostname: "localhost", caCerts: [tls.ca] }),
    );
    await socket.send(bytes("upgraded"));
    assert.equal(text(await withTimeout(5, () => socket.recvExact(8))), "upgraded");
    socket.close();
    await echo.join();
    await relay.join();
    plain.close();
    tlsPort.close();
  } finally {
    setBackend(old);
  }
});

/** Sockets this process holds (a Linux view; null elsewhere). */
function openSockets(): number | null {
  try {
    let n = 0;
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith("socket:")) n++;
      } catch { /* closed meanwhile */ }
    }
    return n;
  } catch {
    return null;
  }
}

tlsTest(
  "a peer that never sends a ClientHello: closed by handshakeTimeout, descriptor gone",
  async (tls) => {
    const server = new HttpServer({ handshakeTimeout: 0.3 });
    server.route("GET", "/", (r) => r.respond(200, "ok"));
    server.listenTls("127.0.0.1:0", { cert: tls.cert, key: tls.key });
    const { port } = server.address as { port: number };
    try {
      const before = openSockets();
      const silent: Deno.Conn[] = [];
      for (let i = 0; i < 5; i++) silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      for (const conn of silent) {
        // The server closes: the peer reads the end of the stream (a Deno-held descriptor
        // would keep it waiting forever).
        const read = conn.read(new Uint8Array(16));
        const timer = setTimeout(() => conn.close(), 5000);
        const got = await waitFor(read.catch((e) => e));
        clearTimeout(timer);
        assert.equal(got, null, "the server never closed the silent connection");
        conn.close();
      }
      assert.equal(server.statistics().open, 0);
      if (before !== null) {
        await withTimeout(3, async () => {
          while (openSockets()! > before) await new Promise((r) => setTimeout(r, 20));
        }).catch(() => {
          throw new Error(`descriptors held: ${openSockets()} sockets, ${before} before`);
        });
      }
      // The server still serves TLS.
      const client = new HttpClient({
        connect: async (host, p) =>
          (await connectTls(`${host}:${p}`, { caCerts: [tls.ca], hostname: "localhost" })).socket,
      });
      try {
        const response = await withTimeout(5, () => client.request(`https://localhost:${port}/`));
        assert.equal(await response.text(), "ok");
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  },
);
