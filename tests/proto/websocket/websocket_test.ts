/** WebSocket: frames, handshakes, both ends, interop with Deno's own WebSocket. */
import assert from "node:assert/strict";
import {
  connectTo,
  type Socket,
  socketPair,
  SocketReader,
  spawn,
  waitFor,
  withTimeout,
} from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import {
  acceptKey,
  CloseCode,
  connectWebSocket,
  encodeFrame,
  hixie76Answer,
  Opcode,
  readFrame,
  type ServerWebSocket,
  WebSocketError,
  websocketHandler,
} from "../../../proto/websocket/mod.ts";
import { EOFError } from "../../../net/errors.ts";
import { prng } from "../../_helpers.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

/** An echo server; `seen` collects what each connection's callback observed at its end. */
function echoServer(maxMessageBytes = 1 << 20, deflate = false) {
  const seen: { code: number; reason: string }[] = [];
  const server = new HttpServer({ onError: () => {} });
  server.push(websocketHandler("/echo", async (ws: ServerWebSocket) => {
    for await (const m of ws) {
      if (m.type === "text") {
        if (m.data === "close please") {
          if ("closeCode" in ws) await ws.close(4000, "as asked");
          break;
        }
        await ws.sendText(m.data);
      } else await ws.sendBinary(m.data);
    }
    if ("closeCode" in ws) seen.push({ code: ws.closeCode, reason: ws.closeReason });
  }, { maxMessageBytes, protocols: ["chat", "superchat"], deflate }));
  server.listen("127.0.0.1:0");
  const url = `ws://127.0.0.1:${(server.address as { port: number }).port}/echo`;
  return { server, url, seen };
}

Deno.test("the accept key and the hixie-76 answer match their specifications' examples", () => {
  assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const answer = hixie76Answer("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", bytes("^n:ds[4U"));
  assert.equal(text(answer), "8jKS'y:G*Co,Wxa-");
});

socketTest("frames of every length class survive encoding, masked and not", async () => {
  const [a, b] = await socketPair();
  const reader = new SocketReader(b);
  for (const length of [0, 1, 125, 126, 65535, 65536, 100_000]) {
    const payload = Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff);
    for (const mask of [false, true]) {
      await a.send(encodeFrame(Opcode.binary, payload, { mask }));
      const frame = await readFrame(reader, mask, 1 << 20);
      assert.ok(frame !== null);
      assert.equal(frame.opcode, Opcode.binary);
      assert.deepEqual(frame.payload, payload);
    }
  }
  a.close();
  b.close();
});

socketTest("garbage frames give WebSocketError or EOFError, never anything else", async () => {
  const random = prng(5);
  for (let i = 0; i < 300; i++) {
    const [a, b] = await socketPair();
    const junk = Uint8Array.from(
      { length: 1 + Math.floor(random() * 40) },
      () => Math.floor(random() * 256),
    );
    await a.send(junk);
    a.close();
    const reader = new SocketReader(b);
    try {
      while (await readFrame(reader, random() < 0.5, 1000) !== null) { /* frames that parse */ }
    } catch (e) {
      assert.ok(e instanceof WebSocketError || e instanceof EOFError, String(e));
    }
    b.close();
  }
});

socketTest("our client and server: text, binary, a subprotocol, and a clean close", async () => {
  const { server, url, seen } = echoServer();
  try {
    const ws = await connectWebSocket(url, { protocols: ["superchat", "chat"] });
    assert.equal(ws.protocol, "chat"); // the server's preference wins
    await ws.sendText("héllo");
    assert.deepEqual(await withTimeout(2, () => ws.receive()), { type: "text", data: "héllo" });
    const data = Uint8Array.from({ length: 70_000 }, (_, i) => i & 0xff);
    await ws.sendBinary(data);
    assert.deepEqual(await withTimeout(2, () => ws.receive()), { type: "binary", data });
    await ws.ping(bytes("p"));
    await ws.sendText("after ping");
    assert.equal((await withTimeout(2, () => ws.receive()))?.data, "after ping");
    assert.ok(ws.lastPong > 0);
    await withTimeout(2, () => ws.close(1000, "bye"));
    assert.equal(ws.closed, true);
    await withTimeout(2, async () => {
      while (seen.length === 0) await spawn(() => {}).join();
    });
    assert.deepEqual(seen, [{ code: 1000, reason: "bye" }]);
  } finally {
    await server.close();
  }
});

socketTest("a close started by the server ends the client's receive with its code", async () => {
  const { server, url } = echoServer();
  try {
    const ws = await connectWebSocket(url);
    await ws.sendText("close please");
    assert.equal(await withTimeout(2, () => ws.receive()), null);
    assert.equal(ws.closeCode, 4000);
    assert.equal(ws.closeReason, "as asked");
  } finally {
    await server.close();
  }
});

/** Opens a raw upgraded connection to `url`, for sending hand-made frames. */
async function rawUpgrade(url: string): Promise<{ socket: Socket; reader: SocketReader }> {
  const { port } = new URL(url);
  const socket = await connectTo(`127.0.0.1:${port}`);
  await socket.send(bytes(
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  ));
  const reader = new SocketReader(socket);
  const head = await withTimeout(2, () => reader.readHead(4096));
  assert.match(text(head!), /^HTTP\/1\.1 101/);
  return { socket, reader };
}

/** The close code the server answers a hand-made frame sequence with. */
async function closeCodeFor(url: string, frames: Uint8Array[]): Promise<number> {
  const { socket, reader } = await rawUpgrade(url);
  for (const f of frames) await socket.send(f);
  for (;;) {
    const frame = await withTimeout(2, () => readFrame(reader, false, 1 << 20));
    assert.ok(frame !== null, "connection closed without a close frame");
    if (frame.opcode === Opcode.close) {
      socket.close();
      return (frame.payload[0] << 8) | frame.payload[1];
    }
  }
}

socketTest("fragments are reassembled; protocol violations get their close codes", async () => {
  const { server, url } = echoServer(1000);
  try {
    const { socket, reader } = await rawUpgrade(url);
    await socket.send(encodeFrame(Opcode.text, bytes("frag"), { fin: false, mask: true }));
    await socket.send(encodeFrame(Opcode.ping, bytes("!"), { mask: true })); // between fragments
    await socket.send(encodeFrame(Opcode.continuation, bytes("ments"), { mask: true }));
    const pong = await withTimeout(2, () => readFrame(reader, false, 1000));
    assert.equal(pong?.opcode, Opcode.pong);
    assert.equal(text(pong!.payload), "!");
    const echoed = await withTimeout(2, () => readFrame(reader, false, 1000));
    assert.equal(text(echoed!.payload), "fragments");
    socket.close();

    const m = (op: number, data: Uint8Array, fin = true) =>
      encodeFrame(op, data, { mask: true, fin });
    assert.equal(
      await closeCodeFor(url, [encodeFrame(Opcode.text, bytes("x"))]),
      CloseCode.protocolError,
    );
    assert.equal(
      await closeCodeFor(url, [m(Opcode.continuation, bytes("x"))]),
      CloseCode.protocolError,
    );
    assert.equal(
      await closeCodeFor(url, [m(Opcode.text, new Uint8Array([0xc3, 0x28]))]),
      CloseCode.invalidData,
    );
    assert.equal(
      await closeCodeFor(url, [m(Opcode.binary, new Uint8Array(2000))]),
      CloseCode.tooBig,
    );
    assert.equal(
      await closeCodeFor(url, [
        m(Opcode.text, new Uint8Array(600), false),
        m(Opcode.continuation, new Uint8Array(600)),
      ]),
      CloseCode.tooBig,
    );
    assert.equal(await closeCodeFor(url, [m(3, bytes("x"))]), CloseCode.protocolError);
  } finally {
    await server.close();
  }
});

socketTest("requests that are not upgrades are refused with 426 or 400", async () => {
  const { server, url } = echoServer();
  const http = url.replace("ws:", "http:");
  try {
    const plain = await waitFor(fetch(http));
    assert.equal(plain.status, 426);
    await waitFor(plain.body!.cancel());
    const { port } = new URL(url);
    const socket = await connectTo(`127.0.0.1:${port}`);
    await socket.send(bytes(
      "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ));
    const head = await withTimeout(2, () => new SocketReader(socket).readHead(4096));
    assert.match(text(head!), /^HTTP\/1\.1 426[\s\S]*sec-websocket-version: 13/);
    socket.close();
  } finally {
    await server.close();
  }
});

socketTest("a hixie-76 client gets its handshake and text frames", async () => {
  const { server, url } = echoServer();
  try {
    const { port } = new URL(url);
    const socket = await connectTo(`127.0.0.1:${port}`);
    await socket.send(bytes(
      "GET /echo HTTP/1.1\r\nHost: example.com\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n" +
        "Origin: http://example.com\r\n\r\n^n:ds[4U",
    ));
    const reader = new SocketReader(socket);
    const head = await withTimeout(2, () => reader.readHead(4096));
    assert.match(text(head!), /^HTTP\/1\.1 101 WebSocket Protocol Handshake/);
    assert.equal(text(await reader.readExact(16)), "8jKS'y:G*Co,Wxa-");
    await socket.send(new Uint8Array([0, ...bytes("old times"), 0xff]));
    assert.deepEqual(
      await withTimeout(2, () => reader.readExact(11)),
      new Uint8Array([0, ...bytes("old times"), 0xff]),
    );
    await socket.send(new Uint8Array([0xff, 0x00]));
    assert.deepEqual(await withTimeout(2, () => reader.readExact(2)), new Uint8Array([0xff, 0x00]));
    socket.close();
  } finally {
    await server.close();
  }
});

socketTest("Deno's own WebSocket client talks to our server", async () => {
  const { server, url } = echoServer();
  try {
    const client = new WebSocket(url, ["chat"]);
    client.binaryType = "arraybuffer";
    const messages: unknown[] = [];
    const closed = new Promise<CloseEvent>((resolve) => client.onclose = resolve);
    const got = new Promise<void>((resolve) => {
      client.onmessage = (e) => {
        messages.push(e.data instanceof ArrayBuffer ? new Uint8Array(e.data) : e.data);
        if (messages.length === 2) resolve();
      };
    });
    await waitFor(new Promise((resolve) => client.onopen = resolve));
    assert.equal(client.protocol, "chat");
    client.send("from deno");
    client.send(new Uint8Array([1, 2, 3]));
    await withTimeout(2, () => waitFor(got));
    assert.deepEqual(messages, ["from deno", new Uint8Array([1, 2, 3])]);
    client.close(1000, "done");
    const event = await withTimeout(2, () => waitFor(closed));
    assert.equal(event.code, 1000);
  } finally {
    await server.close();
  }
});

socketTest("our client talks to Deno.serve's WebSocket", async () => {
  const ac = new AbortController();
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(`deno says ${e.data}`);
      return response;
    },
  );
  try {
    const ws = await connectWebSocket(`ws://127.0.0.1:${deno.addr.port}/`);
    await ws.sendText("hi");
    assert.deepEqual(await withTimeout(2, () => ws.receive()), {
      type: "text",
      data: "deno says hi",
    });
    await withTimeout(2, () => ws.close());
    assert.equal(ws.closeCode, 1000);
  } finally {
    ac.abort();
    await waitFor(deno.finished);
  }
});

socketTest("permessage-deflate: negotiated, compressed on the wire, echoed intact", async () => {
  const { server, url } = echoServer(1 << 20, true);
  try {
    const ws = await connectWebSocket(url, { deflate: true });
    assert.equal(ws.compressed, true);
    const message = "compress me ".repeat(5000); // 60 KB that deflates to little
    await ws.sendText(message);
    assert.deepEqual(await withTimeout(2, () => ws.receive()), { type: "text", data: message });
    for (let i = 0; i < 5; i++) { // the server's context across messages is not kept; ours is
      await ws.sendBinary(new Uint8Array(1000).fill(i));
      const back = await withTimeout(2, () => ws.receive());
      assert.deepEqual(back, { type: "binary", data: new Uint8Array(1000).fill(i) });
    }
    await ws.close();
    const plain = await connectWebSocket(url); // not offered: not used
    assert.equal(plain.compressed, false);
    await plain.close();
  } finally {
    await server.close();
  }
});

socketTest(
  "permessage-deflate: messages under 1 KiB go out plain, larger ones compressed",
  async () => {
    const { server, url } = echoServer(1 << 20, true);
    const { port } = new URL(url);
    const socket = await connectTo(`127.0.0.1:${port}`);
    try {
      await socket.send(bytes(
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
      ));
      const reader = new SocketReader(socket);
      const head = text((await withTimeout(2, () => reader.readHead(4096)))!);
      assert.match(head, /permessage-deflate/i);
      for (const [size, compressed] of [[100, false], [1023, false], [4000, true]] as const) {
        await socket.send(encodeFrame(Opcode.binary, new Uint8Array(size).fill(7), { mask: true }));
        const echoed = await withTimeout(2, () => readFrame(reader, false, 1 << 20, true));
        assert.equal(echoed?.rsv1, compressed, `${size} bytes`);
        assert.equal(echoed!.payload.length < size, compressed);
      }
    } finally {
      socket.close();
      await server.close();
    }
  },
);

socketTest("permessage-deflate: a deflate bomb is refused with 1009", async () => {
  const { server, url } = echoServer(10_000, true);
  try {
    const ws = await connectWebSocket(url, { deflate: true });
    await ws.sendBinary(new Uint8Array(9_000)); // compresses to a few bytes, but is allowed
    assert.equal((await withTimeout(2, () => ws.receive()))?.type, "binary");
    await ws.sendBinary(new Uint8Array(5_000_000)); // ~5 KB on the wire, 5 MB inflated
    assert.equal(await withTimeout(5, () => ws.receive()), null);
    assert.equal(ws.closeCode, CloseCode.tooBig);
  } finally {
    await server.close();
  }
});
