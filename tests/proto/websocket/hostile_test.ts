/**
 * WebSocket against hostile peers: fragment and ping floods, slow hixie-76 handshakes,
 * byte-at-a-time costs, close codes and reasons, extension negotiation, and lying servers.
 * Every loop is bounded in count, every wait has a deadline.
 */
import assert from "node:assert/strict";
import {
  connectTo,
  listenOn,
  type Socket,
  socketPair,
  SocketReader,
  spawn,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import {
  acceptDeflate,
  acceptKey,
  CloseCode,
  connectWebSocket,
  deflateAccepted,
  encodeFrame,
  Hixie76Socket,
  Opcode,
  readFrame,
  WebSocket,
  WebSocketError,
  websocketHandler,
  type WebSocketServerOptions,
} from "../../../proto/websocket/mod.ts";
import { HttpProtocolError } from "../../../proto/http/errors.ts";
import { SocketError } from "../../../net/errors.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

const MiB = 1 << 20;

/** A server whose callbacks drain messages and record how each connection ended. */
function drainServer(options: WebSocketServerOptions = {}) {
  const ended: number[] = [];
  const server = new HttpServer();
  server.push(websocketHandler("/", async (ws) => {
    for await (const _ of ws) { /* drop */ }
    ended.push("closeCode" in ws ? ws.closeCode : 0);
  }, options));
  server.listen("127.0.0.1:0");
  const port = (server.address as { port: number }).port;
  return { server, port, ended };
}

async function rawUpgrade(port: number, extra = ""): Promise<{
  socket: Socket;
  reader: SocketReader;
  head: string;
}> {
  const socket = await connectTo(`127.0.0.1:${port}`);
  await socket.send(bytes(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`,
  ));
  const reader = new SocketReader(socket);
  const head = text((await withTimeout(2, () => reader.readHead(4096)))!);
  assert.match(head, /^HTTP\/1\.1 101/);
  return { socket, reader, head };
}

/** Reads frames until the close frame; its code (or null if the stream just ended). */
async function closeCode(reader: SocketReader): Promise<number | null> {
  for (;;) {
    let frame;
    try {
      frame = await readFrame(reader, false, MiB);
    } catch (e) {
      if (e instanceof SocketError) return null;
      throw e;
    }
    if (frame === null) return null;
    if (frame.opcode === Opcode.close) return (frame.payload[0] << 8) | frame.payload[1];
  }
}

/**
 * Sends `batch` up to `times` times until `stop()` says so or the peer goes away; the
 * number of batches sent.
 */
async function flood(socket: Socket, batch: Uint8Array, times: number, stop: () => boolean) {
  let sent = 0;
  for (; sent < times && !stop(); sent++) {
    try {
      await withTimeout(5, () => socket.send(batch));
    } catch (e) {
      if (e instanceof SocketError) break;
      throw e;
    }
  }
  return sent;
}

/** This isolate's V8 heap: what the connection's buffers and frame objects live in (RSS would
 * count other test files running in parallel in the same process). */
function heap(): number {
  return Deno.memoryUsage().heapUsed;
}

socketTest("3 million empty continuation frames: closed with 1008 early, memory flat", async () => {
  const { server, port, ended } = drainServer();
  try {
    const { socket, reader } = await rawUpgrade(port);
    await socket.send(encodeFrame(Opcode.text, bytes("x"), { fin: false, mask: true }));
    const empty = encodeFrame(Opcode.continuation, new Uint8Array(0), { fin: false, mask: true });
    const perBatch = 8192;
    const batch = new Uint8Array(empty.length * perBatch);
    for (let i = 0; i < perBatch; i++) batch.set(empty, i * empty.length);
    const batches = Math.ceil(3_000_000 / perBatch);
    const before = heap();
    let code: number | null | undefined;
    const watcher = spawn(async () => code = await closeCode(reader));
    const sent = await flood(socket, batch, batches, () => code !== undefined);
    await withTimeout(5, () => watcher.join());
    socket.close();
    assert.equal(code, CloseCode.policyViolation);
    // The server stopped it at maxFragments (4096): what was sent past that sat in socket
    // buffers (a few MB at most), not in the server's memory.
    assert.ok(sent < batches, `all ${sent} batches of ${perBatch} frames went through`);
    assert.ok(heap() - before < 64 * MiB, `heap grew by ${(heap() - before) / MiB} MiB`);
    await withTimeout(5, async () => {
      while (ended.length === 0) await spawn(() => {}).join();
    });
    assert.deepEqual(ended, [CloseCode.policyViolation]);
  } finally {
    await server.close();
  }
});

socketTest("a fragmented message within maxFragments is still reassembled", async () => {
  const echo = new HttpServer();
  echo.push(websocketHandler("/", async (ws) => {
    for await (const m of ws) if (m.type === "text") await ws.sendText(m.data);
  }, { maxFragments: 10 }));
  echo.listen("127.0.0.1:0");
  try {
    const { socket, reader } = await rawUpgrade((echo.address as { port: number }).port);
    const m = (op: number, data: string, fin: boolean) =>
      encodeFrame(op, bytes(data), { fin, mask: true });
    await socket.send(m(Opcode.text, "a", false));
    for (let i = 0; i < 8; i++) await socket.send(m(Opcode.continuation, i % 2 ? "" : "b", false));
    await socket.send(m(Opcode.continuation, "c", true));
    const frame = await withTimeout(2, () => readFrame(reader, false, MiB));
    assert.equal(text(frame!.payload), "abbbbc");
    await socket.send(m(Opcode.text, "a", false));
    for (let i = 0; i < 10; i++) await socket.send(m(Opcode.continuation, "", false));
    assert.equal(await withTimeout(2, () => closeCode(reader)), CloseCode.policyViolation);
    socket.close();
  } finally {
    await echo.close();
  }
});

socketTest(
  "a ping flood from a peer that never reads: no pong queue, dropped at sendTimeout",
  async () => {
    const { server, port, ended } = drainServer({ sendTimeout: 0.5 });
    try {
      const { socket } = await rawUpgrade(port);
      const ping = encodeFrame(Opcode.ping, new Uint8Array(125).fill(7), { mask: true });
      const perBatch = 1000;
      const batch = new Uint8Array(ping.length * perBatch);
      for (let i = 0; i < perBatch; i++) batch.set(ping, i * ping.length);
      const batches = 1000; // a million pings, 131 MB: far more than any socket buffers hold
      const before = heap();
      const sent = await flood(socket, batch, batches, () => ended.length > 0);
      await withTimeout(5, async () => {
        while (ended.length === 0) await spawn(() => {}).join();
      });
      socket.close();
      assert.deepEqual(ended, [CloseCode.abnormal]);
      assert.ok(sent < batches, "every ping was taken: the server cannot have stopped reading");
      assert.ok(heap() - before < 64 * MiB, `heap grew by ${(heap() - before) / MiB} MiB`);
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "a ping flood from a peer that reads: a pong for each, the connection lives",
  async () => {
    const server = new HttpServer();
    server.push(websocketHandler("/", async (ws) => {
      for await (const m of ws) if (m.type === "text") await ws.sendText(m.data);
    }));
    server.listen("127.0.0.1:0");
    try {
      const { socket, reader } = await rawUpgrade((server.address as { port: number }).port);
      const pings = 20_000;
      let pongs = 0;
      const counter = spawn(async () => {
        for (;;) {
          const frame = await readFrame(reader, false, MiB);
          if (frame?.opcode === Opcode.pong) pongs++;
          else return frame === null ? "" : text(frame.payload);
        }
      });
      const ping = encodeFrame(Opcode.ping, bytes("p"), { mask: true });
      const batch = new Uint8Array(ping.length * 1000);
      for (let i = 0; i < 1000; i++) batch.set(ping, i * ping.length);
      for (let i = 0; i < pings / 1000; i++) await withTimeout(5, () => socket.send(batch));
      await socket.send(encodeFrame(Opcode.text, bytes("still here"), { mask: true }));
      assert.equal(await withTimeout(10, () => counter.join()), "still here");
      assert.equal(pongs, pings);
      socket.close();
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "close codes 1012-1014 are accepted and echoed; 1004-1006 and 1015 are not",
  async () => {
    const { server, port } = drainServer();
    try {
      for (const [sent, answered] of [[1012, 1012], [1013, 1013], [1014, 1014], [1015, 1002]]) {
        const { socket, reader } = await rawUpgrade(port);
        const payload = new Uint8Array([sent >> 8, sent & 0xff]);
        await socket.send(encodeFrame(Opcode.close, payload, { mask: true }));
        assert.equal(await withTimeout(2, () => closeCode(reader)), answered, `code ${sent}`);
        socket.close();
      }
    } finally {
      await server.close();
    }
  },
);

socketTest("a close reason over 123 bytes is cut on a UTF-8 character boundary", async () => {
  const [a, b] = await socketPair();
  const ws = new WebSocket(a, new SocketReader(a), false, "", { closeTimeout: 1 });
  const closing = spawn(() => ws.close(4001, "é".repeat(100))); // 200 bytes
  const reader = new SocketReader(b);
  const frame = await withTimeout(2, () => readFrame(reader, false, 1000));
  assert.equal(frame?.opcode, Opcode.close);
  const reason = new TextDecoder("utf-8", { fatal: true }).decode(frame!.payload.subarray(2));
  assert.equal(reason, "é".repeat(61)); // 122 bytes: the 62nd "é" would straddle 123
  await b.send(encodeFrame(Opcode.close, frame!.payload, { mask: true }));
  await withTimeout(2, () => closing.join());
  b.close();
});

Deno.test("permessage-deflate offers: unknown, repeated or bad parameters are declined", () => {
  for (
    const offer of [
      "permessage-deflate; x_unknown",
      "permessage-deflate; x_unknown=1",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=08",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_max_window_bits",
    ]
  ) assert.equal(acceptDeflate(offer), null, offer);
  for (
    const offer of [
      "permessage-deflate",
      "permessage-deflate; client_max_window_bits",
      "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
      "permessage-deflate; x_unknown, permessage-deflate", // the second offer is fine
    ]
  ) assert.notEqual(acceptDeflate(offer), null, offer);
  assert.deepEqual(deflateAccepted("permessage-deflate; server_no_context_takeover"), {});
  for (
    const answer of [
      "permessage-deflate; server_no_context_takeover; x_unknown",
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover, permessage-deflate",
      "permessage-deflate; server_no_context_takeover, x-webkit-deflate-frame",
    ]
  ) assert.throws(() => deflateAccepted(answer), WebSocketError, answer);
});

socketTest("a server declines a permessage-deflate offer with an unknown parameter", async () => {
  const { server, port } = drainServer({ deflate: true });
  try {
    const declined = await rawUpgrade(
      port,
      "Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n",
    );
    assert.doesNotMatch(declined.head, /sec-websocket-extensions/i);
    declined.socket.close();
    const agreed = await rawUpgrade(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert.match(agreed.head, /sec-websocket-extensions: permessage-deflate/i);
    agreed.socket.close();
  } finally {
    await server.close();
  }
});

/** A fake server answering one handshake with `head(acceptValue)`. */
async function lyingServer(
  head: (accept: string) => string,
  client: (url: string) => Promise<void>,
): Promise<void> {
  const listener = listenOn("127.0.0.1:0");
  const { port } = listener.localAddress() as { port: number };
  const thread = spawn(async () => {
    const [conn] = await listener.accept();
    const reader = new SocketReader(conn);
    const request = text((await reader.readHead(8192))!);
    const key = /sec-websocket-key: (\S+)/i.exec(request)![1];
    await conn.send(bytes(head(acceptKey(key))));
    try {
      await reader.fill(); // until the client goes
    } catch (e) {
      if (!(e instanceof SocketError)) throw e; // it may go with a reset
    }
    conn.close();
  });
  try {
    await client(`ws://127.0.0.1:${port}/`);
  } finally {
    listener.close();
    await withTimeout(5, () => thread.join());
  }
}

socketTest(
  "the client refuses a 101 without Upgrade or Connection, or with an extension not offered",
  async () => {
    const cases = [
      (k: string) =>
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${k}\r\n\r\n`,
      (k: string) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${k}\r\n\r\n`,
      (k: string) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${k}\r\n\r\n`,
      (k: string) =>
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${k}\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n`,
    ];
    for (const head of cases) {
      await lyingServer(head, async (url) => {
        await assert.rejects(withTimeout(5, () => connectWebSocket(url)), HttpProtocolError);
      });
    }
    await lyingServer(
      (k) =>
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${k}\r\nSec-WebSocket-Extensions: permessage-deflate; ` +
        "server_no_context_takeover; x_unknown\r\n\r\n",
      async (url) => {
        await assert.rejects(
          withTimeout(5, () => connectWebSocket(url, { deflate: true })),
          HttpProtocolError,
        );
      },
    );
    await lyingServer(
      (k) =>
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${k}\r\n\r\n`,
      async (url) => {
        const ws = await withTimeout(5, () => connectWebSocket(url));
        ws.socket.close();
      },
    );
  },
);

const HIXIE_HEAD = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: WebSocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n" +
  "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nOrigin: http://example.com\r\n\r\n";

socketTest(
  "hixie-76: a client that never sends its 8 key bytes is cut off at the deadline",
  async () => {
    const { server, port } = drainServer({ handshakeTimeout: 0.3 });
    try {
      const socket = await connectTo(`127.0.0.1:${port}`);
      await socket.send(bytes(HIXIE_HEAD + "^n:d")); // 4 of the 8 bytes, then nothing
      const reader = new SocketReader(socket);
      assert.equal(await withTimeout(5, () => reader.readHead(4096)), null, "closed, no answer");
      socket.close();
    } finally {
      await server.close();
    }
  },
);

socketTest("hixie-76: a 1 MiB message is read in chunks, not a byte at a time", async () => {
  const [a, b] = await socketPair();
  let reads = 0;
  class CountingReader extends SocketReader {
    override fill() {
      reads++;
      return super.fill();
    }
    override readExact(n: number) {
      reads++;
      return super.readExact(n);
    }
  }
  const ws = new Hixie76Socket(a, new CountingReader(a), 2 * MiB);
  const message = new Uint8Array(MiB + 2).fill(0x61);
  message[0] = 0x00;
  message[message.length - 1] = 0xff;
  const writer = spawn(() => b.send(message));
  const got = await withTimeout(10, () => ws.receive());
  await writer.join();
  assert.equal(got?.type, "text");
  assert.equal((got!.data as string).length, MiB);
  assert.ok(reads < 2000, `${reads} reads for 1 MiB`); // a byte at a time: over a million
  a.close();
  b.close();
});

socketTest("hixie-76: a message over maxMessageBytes closes the connection", async () => {
  const [a, b] = await socketPair();
  const ws = new Hixie76Socket(a, new SocketReader(a), 1000);
  const message = new Uint8Array(2002).fill(0x61);
  message[0] = 0x00;
  message[message.length - 1] = 0xff;
  await b.send(message.subarray(0, 1500)); // over the limit before its end even came
  assert.equal(await withTimeout(2, () => ws.receive()), null);
  assert.equal(ws.closed, true);
  const reader = new SocketReader(b);
  assert.deepEqual(await withTimeout(2, () => reader.readExact(2)), new Uint8Array([0xff, 0x00]));
  b.close();
});

socketTest("hixie-76: a whole message over maxMessageBytes in one read closes it too", async () => {
  const [a, b] = await socketPair();
  const ws = new Hixie76Socket(a, new SocketReader(a), 1000);
  const message = new Uint8Array(1202).fill(0x61);
  message[0] = 0x00;
  message[message.length - 1] = 0xff;
  await b.send(message); // its end is there at once: still over the limit
  assert.equal(await withTimeout(2, () => ws.receive()), null);
  assert.equal(ws.closed, true);
  b.close();
});

socketTest("the client's handshake has a deadline: a server that never answers", async () => {
  const listener = listenOn("127.0.0.1:0");
  const { port } = listener.localAddress() as { port: number };
  const held: Socket[] = [];
  const acceptor = spawn(async () => {
    const [conn] = await listener.accept();
    held.push(conn); // accepted, read from never, answered never
  });
  try {
    const outcome = await withTimeout(
      5,
      () =>
        connectWebSocket(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 0.3 }).then(
          (ws) => ws,
          (e: unknown) => e,
        ),
    );
    assert.ok(outcome instanceof TimeoutError, String(outcome));
  } finally {
    await withTimeout(5, () => acceptor.join());
    held.forEach((s) => s.close());
    listener.close();
  }
});
