/**
 * RFC 6455's framing rules a hostile peer may break, each refused with 1002 before the
 * payload is read: control frames over 125 bytes or fragmented, reserved bits, unknown
 * opcodes, masking the wrong way round (either end), lengths not minimal or with the top
 * bit set.
 */
import assert from "node:assert/strict";
import { socketPair, SocketReader, withTimeout } from "../../../mod.ts";
import {
  CloseCode,
  encodeFrame,
  Opcode,
  readFrame,
  WebSocketError,
} from "../../../proto/websocket/mod.ts";
import { socketTest } from "../../net/_backends.ts";

/** A frame head with a 2-byte header and `extra` bytes (lengths, key) after it. */
function head(byte0: number, byte1: number, extra: number[] = []): Uint8Array {
  return new Uint8Array([byte0, byte1, ...extra]);
}

const MASK = [1, 2, 3, 4];
const cases: [string, Uint8Array, boolean][] = [
  // [what, bytes, read as a server (the peer must mask)]
  ["ping of 126 bytes", encodeFrame(Opcode.ping, new Uint8Array(126), { mask: true }), true],
  ["close of 126 bytes", encodeFrame(Opcode.close, new Uint8Array(126), { mask: true }), true],
  [
    "fragmented ping",
    encodeFrame(Opcode.ping, new Uint8Array(1), { fin: false, mask: true }),
    true,
  ],
  ["RSV2", head(0x80 | 0x20 | Opcode.text, 0x80, MASK), true],
  ["RSV3", head(0x80 | 0x10 | Opcode.text, 0x80, MASK), true],
  ["RSV1 without an extension", head(0x80 | 0x40 | Opcode.text, 0x80, MASK), true],
  ["opcode 7", head(0x80 | 7, 0x80, MASK), true],
  ["opcode 11", head(0x80 | 11, 0x80, MASK), true],
  ["an unmasked client frame", encodeFrame(Opcode.text, new Uint8Array(3)), true],
  ["a masked server frame", encodeFrame(Opcode.text, new Uint8Array(3), { mask: true }), false],
  ["16-bit length under 126", head(0x80 | Opcode.binary, 0x80 | 126, [0, 5, ...MASK]), true],
  [
    "64-bit length under 65536",
    head(0x80 | Opcode.binary, 0x80 | 127, [0, 0, 0, 0, 0, 0, 1, 0]),
    true,
  ],
  [
    "64-bit length, top bit set",
    head(0x80 | Opcode.binary, 0x80 | 127, [0x80, 0, 0, 0, 0, 0, 0, 1]),
    true,
  ],
];

socketTest("framing rules: each violation is a 1002 before any payload is read", async () => {
  for (const [what, frame, asServer] of cases) {
    const [a, b] = await socketPair();
    try {
      await a.send(frame); // the payload, if any, never comes: the head must be enough
      const reader = new SocketReader(b);
      await assert.rejects(
        withTimeout(2, () => readFrame(reader, asServer, 1 << 20)),
        (e) => e instanceof WebSocketError && e.code === CloseCode.protocolError,
        what,
      );
    } finally {
      a.close();
      b.close();
    }
  }
});
