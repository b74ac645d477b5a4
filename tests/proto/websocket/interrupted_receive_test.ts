/**
 * A receive interrupted in the middle of a frame (a `withTimeout` idle check around
 * `receive`, the common pattern) must not leave the reader inside the frame: the next
 * receive would parse the rest of its payload as frames, and a payload carrying
 * someone else's bytes (a chat line relayed by the server) would come out as a message of
 * its own. The frame is taken whole or not at all.
 */
import assert from "node:assert/strict";
import { socketPair, SocketReader, TimeoutError, withTimeout } from "../../../mod.ts";
import { encodeFrame, Hixie76Socket, Opcode, WebSocket } from "../../../proto/websocket/mod.ts";
import { bytes, socketTest } from "../../net/_backends.ts";

socketTest(
  "an interrupted receive mid-frame: the frame comes whole later, nothing smuggled",
  async () => {
    const [a, b] = await socketPair();
    try {
      const ws = new WebSocket(a, new SocketReader(a), true); // a client: server frames unmasked
      // A binary message whose payload holds what looks like a whole text frame.
      const smuggled = encodeFrame(Opcode.text, bytes("INJECTED"));
      const payload = new Uint8Array(100).fill(0x2e);
      payload.set(smuggled);
      const frame = encodeFrame(Opcode.binary, payload);
      const cut = 2 + smuggled.length; // the head and the smuggled frame, not the rest
      await b.send(frame.subarray(0, cut));
      await assert.rejects(withTimeout(0.2, () => ws.receive()), TimeoutError);
      // The idle check goes on: receive again, and the rest of the frame arrives.
      await b.send(frame.subarray(cut));
      const message = await withTimeout(2, () => ws.receive());
      assert.equal(message?.type, "binary", `got ${JSON.stringify(message)}`);
      assert.deepEqual(message.data, payload);
      // And the connection is still in step: the next message is read as sent.
      await b.send(encodeFrame(Opcode.text, bytes("next")));
      assert.deepEqual(await withTimeout(2, () => ws.receive()), { type: "text", data: "next" });
    } finally {
      a.close();
      b.close();
    }
  },
);

socketTest(
  "an interrupted receive mid-frame on a server: the masked frame comes whole later",
  async () => {
    const [a, b] = await socketPair();
    try {
      const ws = new WebSocket(a, new SocketReader(a), false); // a server: client frames masked
      const frame = encodeFrame(Opcode.text, bytes("x".repeat(300)), { mask: true });
      for (const cut of [1, 3, 5, 100]) { // inside the head, the length, the key, the payload
        await b.send(frame.subarray(0, cut));
        await assert.rejects(withTimeout(0.1, () => ws.receive()), TimeoutError);
        await b.send(frame.subarray(cut));
        assert.deepEqual(await withTimeout(2, () => ws.receive()), {
          type: "text",
          data: "x".repeat(300),
        }, `cut at ${cut}`);
      }
    } finally {
      a.close();
      b.close();
    }
  },
);

socketTest(
  "hixie-76: an interrupted receive mid-message: the message comes whole later",
  async () => {
    const [a, b] = await socketPair();
    try {
      const ws = new Hixie76Socket(a, new SocketReader(a), 1 << 20);
      // A text message holding U+0000 (a 0x00 byte, hixie-76's frame start) then more text.
      const message = new Uint8Array([0x00, ...bytes("ab\u0000INJECTED"), 0xff]);
      await b.send(message.subarray(0, 3)); // the start and "ab"
      await assert.rejects(withTimeout(0.2, () => ws.receive()), TimeoutError);
      await b.send(message.subarray(3));
      assert.deepEqual(await withTimeout(2, () => ws.receive()), {
        type: "text",
        data: "ab\u0000INJECTED",
      });
      assert.equal(ws.closed, false);
    } finally {
      a.close();
      b.close();
    }
  },
);

socketTest(
  "an interrupted receive between fragments: the message is reassembled later",
  async () => {
    const [a, b] = await socketPair();
    try {
      const ws = new WebSocket(a, new SocketReader(a), false, "", { maxFragments: 3 });
      const m = (op: number, text: string, fin: boolean) =>
        encodeFrame(op, bytes(text), { fin, mask: true });
      await b.send(m(Opcode.text, "frag", false));
      await assert.rejects(withTimeout(0.1, () => ws.receive()), TimeoutError);
      await b.send(m(Opcode.continuation, "men", false));
      await assert.rejects(withTimeout(0.1, () => ws.receive()), TimeoutError);
      await b.send(m(Opcode.continuation, "ts", true));
      assert.deepEqual(await withTimeout(2, () => ws.receive()), {
        type: "text",
        data: "fragments",
      });
      // The caps count the whole message across the interruptions: a fourth fragment is 1008.
      for (const [op, fin] of [[Opcode.text, false], [Opcode.continuation, false]] as const) {
        await b.send(m(op, "x", fin));
        await assert.rejects(withTimeout(0.1, () => ws.receive()), TimeoutError);
      }
      await b.send(m(Opcode.continuation, "x", false));
      await b.send(m(Opcode.continuation, "x", true));
      assert.equal(await withTimeout(2, () => ws.receive()), null);
      assert.equal(ws.closeCode, 1008);
    } finally {
      a.close();
      b.close();
    }
  },
);
