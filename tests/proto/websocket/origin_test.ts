/**
 * Cross-site WebSocket hijacking: a page of another site opening a WebSocket to our
 * server rides the user's cookies, since browsers do not apply CORS to WebSockets. By
 * default only the server's own pages (an Origin of the request's Host) and clients that
 * send no Origin are let in; `origins` lists others, or lets in "any".
 */
import assert from "node:assert/strict";
import { connectTo, SocketReader, withTimeout } from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import {
  connectWebSocket,
  websocketHandler,
  type WebSocketServerOptions,
} from "../../../proto/websocket/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

function server(options: WebSocketServerOptions = {}) {
  const s = new HttpServer();
  s.push(websocketHandler("/", async (ws) => {
    for await (const _ of ws) { /* drop */ }
  }, options));
  s.listen("127.0.0.1:0");
  return { server: s, port: (s.address as { port: number }).port };
}

/** The status of an upgrade request with these Host and Origin fields. */
async function status(port: number, host: string, origin: string | null): Promise<number> {
  const socket = await connectTo(`127.0.0.1:${port}`);
  try {
    await socket.send(bytes(
      `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        (origin === null ? "" : `Origin: ${origin}\r\n`) + "\r\n",
    ));
    const head = await withTimeout(5, () => new SocketReader(socket).readHead(16384));
    return Number(text(head!).split(" ")[1]);
  } finally {
    socket.close();
  }
}

socketTest(
  "origins: by default the server's own pages and clients without Origin only",
  async () => {
    const { server: s, port } = server();
    try {
      const host = `127.0.0.1:${port}`;
      assert.equal(await status(port, host, null), 101); // Deno's client, curl, our client
      assert.equal(await status(port, host, `http://${host}`), 101);
      assert.equal(await status(port, host, `https://${host}`), 101);
      assert.equal(await status(port, "example.com", "https://example.com"), 101); // port 443
      assert.equal(await status(port, "example.com:443", "https://example.com"), 101);
      assert.equal(await status(port, host, "https://evil.example"), 403);
      assert.equal(await status(port, host, `http://127.0.0.1:${port + 1}`), 403);
      assert.equal(await status(port, "example.com", "https://example.com.evil.example"), 403);
      assert.equal(await status(port, host, "null"), 403); // a sandboxed page
      // Our own client sends no Origin: it connects as before.
      const ws = await connectWebSocket(`ws://${host}/`);
      await ws.close();
    } finally {
      await s.close();
    }
  },
);

socketTest('origins: a list lets in exactly those; "any" lets in every page', async () => {
  const listed = server({ origins: ["https://app.example.com"] });
  const any = server({ origins: "any" });
  try {
    const host = `127.0.0.1:${listed.port}`;
    assert.equal(await status(listed.port, host, "https://app.example.com"), 101);
    assert.equal(await status(listed.port, host, `http://${host}`), 403);
    assert.equal(await status(listed.port, host, null), 101);
    assert.equal(await status(any.port, "x", "https://evil.example"), 101);
  } finally {
    await listed.server.close();
    await any.server.close();
  }
});
