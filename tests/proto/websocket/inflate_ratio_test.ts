/**
 * permessage-deflate against a peer that sends small messages inflating to the message
 * cap: each costs us ~0.8 ms of inflation for ~1 KiB on the wire (about what a legitimate
 * 87 KB compressed message costs), so 1 MB/s of them would keep a core busy, and the
 * connection went on. Past `maxInflateRatio` (200, as Apache's DeflateInflateRatioLimit),
 * for messages inflating beyond 64 KiB, the message is refused with 1009.
 */
import assert from "node:assert/strict";
import { withTimeout } from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import {
  CloseCode,
  connectWebSocket,
  websocketHandler,
  type WebSocketServerOptions,
} from "../../../proto/websocket/mod.ts";
import { socketTest } from "../../net/_backends.ts";

function echo(options: WebSocketServerOptions) {
  const server = new HttpServer();
  server.push(websocketHandler("/", async (ws) => {
    for await (const m of ws) {
      if (m.type === "binary") await ws.sendBinary(m.data.subarray(0, 16));
      else await ws.sendText(m.data.slice(0, 16));
    }
  }, { deflate: true, maxMessageBytes: 4 << 20, ...options }));
  server.listen("127.0.0.1:0");
  return { server, url: `ws://127.0.0.1:${(server.address as { port: number }).port}/` };
}

const records = JSON.stringify(
  Array.from({ length: 20000 }, (_, i) => ({ id: i, name: `user ${i}`, score: (i * 7919) % 1000 })),
);

socketTest(
  "a message inflating over maxInflateRatio times its size is refused (1009)",
  async () => {
    const { server, url } = echo({});
    try {
      const ws = await connectWebSocket(url, { deflate: true, maxMessageBytes: 4 << 20 });
      await ws.sendText(records); // ~1 MB of JSON, about 8 times smaller on the wire: fine
      assert.equal((await withTimeout(5, () => ws.receive()))?.type, "text");
      await ws.sendBinary(new Uint8Array(9_000)); // a small one inflates as it likes
      assert.equal((await withTimeout(5, () => ws.receive()))?.type, "binary");
      await ws.sendBinary(new Uint8Array(1 << 20)); // ~1 KiB on the wire, 1 MiB inflated
      assert.equal(await withTimeout(5, () => ws.receive()), null);
      assert.equal(ws.closeCode, CloseCode.tooBig);
      assert.match(ws.closeReason, /maxInflateRatio/);
    } finally {
      await server.close();
    }
  },
);

socketTest("maxInflateRatio is a knob", async () => {
  const { server, url } = echo({ maxInflateRatio: 2000 });
  try {
    const ws = await connectWebSocket(url, { deflate: true });
    await ws.sendBinary(new Uint8Array(1 << 20));
    assert.equal((await withTimeout(5, () => ws.receive()))?.type, "binary");
    await ws.close();
  } finally {
    await server.close();
  }
});
