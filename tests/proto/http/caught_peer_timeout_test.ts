/**
 * A handler that catches the server's body deadline (PeerTimeoutError) and answers:
 * the reply goes out, and the connection ends after it (the unread rest of the body
 * is not waited for without a deadline).
 */
import assert from "node:assert/strict";
import { connectTo, SocketReader, withTimeout } from "../../../mod.ts";
import { HttpServer, PeerTimeoutError } from "../../../proto/http/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

socketTest(
  "a handler that catches PeerTimeoutError answers, and the connection does not wait on the client for good",
  async () => {
    const server = new HttpServer({ bodyTimeout: 0.1 });
    const seen: unknown[] = [];
    server.route("POST", "/catch", async (r) => {
      try {
        await r.body.bytes();
      } catch (e) {
        seen.push(e);
        if (!(e instanceof PeerTimeoutError)) throw e;
        await r.respond(408, "too slow\n");
        return;
      }
      await r.respond(200, "read\n");
    });
    server.listen("127.0.0.1:0");
    const socket = await connectTo(server.address);
    try {
      await socket.send(
        bytes("POST /catch HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n12345"),
      );
      const reader = new SocketReader(socket);
      const head = text(await withTimeout(5, () => reader.readHead(65536)) ?? new Uint8Array());
      assert.match(head, /^HTTP\/1\.1 408/);
      assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
      // The client sends no more: the connection must end (after the reply, or after a
      // bounded drain of the rest of the body), not wait on the slow client for good.
      let rest = "";
      for (;;) {
        const chunk = await withTimeout(2, () => reader.readSome(4096));
        if (chunk.length === 0) break;
        rest += text(chunk);
      }
      assert.equal(rest.replace(/^[^]*?\r\n\r\n/, ""), "too slow\n");
    } finally {
      socket.close();
      await server.close({ graceSeconds: 1 });
    }
  },
);
