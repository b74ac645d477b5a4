/** SocketReader.fillTo: waits for bytes without consuming them, whatever interrupts it. */
import assert from "node:assert/strict";
import { socketPair, SocketReader, TimeoutError, withTimeout } from "../../mod.ts";
import { bytes, socketTest, text } from "./_backends.ts";

socketTest("fillTo consumes nothing: interrupted or at the end, what came stays", async () => {
  const [a, b] = await socketPair();
  try {
    const reader = new SocketReader(b, 4); // smaller than what is asked: it grows
    await a.send(bytes("abc"));
    await assert.rejects(withTimeout(0.1, () => reader.fillTo(10)), TimeoutError);
    assert.equal(text(reader.peek()), "abc");
    await a.send(bytes("defghij"));
    assert.equal(await withTimeout(2, () => reader.fillTo(10)), true);
    assert.equal(text(reader.peek()), "abcdefghij");
    reader.skip(8);
    await a.send(bytes("k"));
    a.close();
    assert.equal(await withTimeout(2, () => reader.fillTo(5)), false); // ended first
    assert.equal(text(reader.peek()), "ijk");
  } finally {
    a.close();
    b.close();
  }
});
