/**
 * A send interrupted with part of its frame on the wire: the frame cannot be taken back,
 * so the connection is dropped. Without that, the next frame's bytes would land inside the
 * cut one's payload and the peer would read a message of the right length with the wrong
 * bytes, or lose its framing. The close handshake is bounded by `closeTimeout` even when a
 * send is stuck on a peer that does not read.
 */
import assert from "node:assert/strict";
import {
  ClosedError,
  connectTo,
  sleep,
  socketPair,
  SocketReader,
  spawn,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import {
  CloseCode,
  Hixie76Socket,
  Opcode,
  readFrame,
  type ServerWebSocket,
  type WebSocket,
  WebSocketError,
  websocketHandler,
} from "../../../proto/websocket/mod.ts";
import { SocketError } from "../../../net/errors.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

const MiB = 1 << 20;
const BIG = 16 * MiB; // far more than the kernel's socket buffers hold

/** A raw client that upgrades and then reads nothing until told to. */
async function rawClient(port: number): Promise<{ reader: SocketReader; close: () => void }> {
  const socket = await connectTo(`127.0.0.1:${port}`);
  await socket.send(bytes(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  ));
  const reader = new SocketReader(socket);
  const head = text((await withTimeout(5, () => reader.readHead(4096)))!);
  assert.match(head, /^HTTP\/1\.1 101/);
  return { reader, close: () => socket.close() };
}

/** Every frame until the stream ends (bounded by `seconds`). */
async function framesUntilEnd(reader: SocketReader, seconds: number) {
  const frames: { opcode: number; length: number; intact: boolean }[] = [];
  await withTimeout(seconds, async () => {
    for (;;) {
      let frame;
      try {
        frame = await readFrame(reader, false, 2 * BIG);
      } catch (e) {
        if (e instanceof SocketError || (e as Error).name === "EOFError") return;
        if (e instanceof WebSocketError) { // the stream lost its framing
          frames.push({ opcode: -1, length: 0, intact: false });
          return;
        }
        throw e;
      }
      if (frame === null) return;
      frames.push({
        opcode: frame.opcode,
        length: frame.payload.length,
        intact: frame.payload.every((b) => b === (frame.opcode === Opcode.binary ? 0x42 : b)),
      });
    }
  });
  return frames;
}

socketTest(
  "a send interrupted mid-frame drops the connection: no frame lands inside it",
  async () => {
    const outcome: { first?: string; after?: string; reading?: boolean } = {};
    const server = new HttpServer();
    server.push(websocketHandler("/", async (ws: ServerWebSocket) => {
      const socket = ws as WebSocket;
      try {
        await withTimeout(0.3, () => socket.sendBinary(new Uint8Array(BIG).fill(0x42)));
        outcome.first = "sent";
      } catch (e) {
        outcome.first = e instanceof TimeoutError ? "timeout" : String(e);
      }
      await withTimeout(10, async () => {
        while (!outcome.reading) await sleep(0.02);
      });
      try {
        await socket.sendText("after");
        await socket.sendBinary(new Uint8Array(BIG).fill(0x42)); // fills what the cut one lacks
        outcome.after = "sent";
      } catch (e) {
        outcome.after = e instanceof ClosedError ? "closed" : String(e);
      }
    }));
    server.listen("127.0.0.1:0");
    const port = (server.address as { port: number }).port;
    try {
      const client = await rawClient(port);
      try {
        await withTimeout(10, async () => {
          while (outcome.first === undefined) await sleep(0.02);
        });
        assert.equal(outcome.first, "timeout");
        outcome.reading = true;
        const frames = await framesUntilEnd(client.reader, 20);
        // Every frame read is whole and as sent (binary: all 0x42), and the framing holds.
        assert.ok(frames.every((f) => f.intact), JSON.stringify(frames));
        await withTimeout(10, async () => {
          while (outcome.after === undefined) await sleep(0.02);
        });
        // Either the whole frame went out before the timeout (then "after" follows it), or
        // the connection was dropped and the next send is refused.
        if (frames.length === 0 || frames[0].length !== BIG) {
          assert.equal(outcome.after, "closed", JSON.stringify(frames));
        }
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  },
);

socketTest(
  "close() is bounded by closeTimeout while another send is stuck on a peer that does not read",
  async () => {
    let closeSeconds = -1;
    let stuck: string | undefined;
    const server = new HttpServer();
    server.push(websocketHandler("/", async (ws: ServerWebSocket) => {
      const socket = ws as WebSocket;
      const sender = spawn(async () => {
        try {
          await socket.sendBinary(new Uint8Array(BIG).fill(0x42));
          stuck = "sent";
        } catch (e) {
          stuck = e instanceof ClosedError ? "closed" : String(e);
        }
      });
      await sleep(0.3); // the sender fills the socket's buffers and waits
      const started = performance.now();
      await socket.close(CloseCode.normal, "bye");
      closeSeconds = (performance.now() - started) / 1000;
      await withTimeout(5, () => sender.join());
    }, { sendTimeout: 30, closeTimeout: 0.5 }));
    server.listen("127.0.0.1:0");
    const port = (server.address as { port: number }).port;
    try {
      const client = await rawClient(port);
      try {
        await withTimeout(15, async () => {
          while (stuck === undefined) await sleep(0.05);
        });
        assert.ok(closeSeconds >= 0 && closeSeconds < 3, `close took ${closeSeconds} s`);
        assert.equal(stuck, "closed");
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  },
);

socketTest("hixie-76: a send interrupted mid-frame drops the connection too", async () => {
  const [a, b] = await socketPair();
  try {
    const ws = new Hixie76Socket(a, new SocketReader(a), MiB, 30);
    await assert.rejects(
      withTimeout(0.3, () => ws.sendText("x".repeat(BIG))), // b reads nothing
      TimeoutError,
    );
    assert.equal(ws.closed, true, "a cut frame left on a live connection");
    await assert.rejects(ws.sendText("after"), ClosedError);
  } finally {
    a.close();
    b.close();
  }
});
