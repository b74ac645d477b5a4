/**
 * A handler that catches the server's body deadline (PeerTimeoutError) and answers:
 * the reply goes out, and the connection ends after it (the unread rest of the body
 * is not waited for without a deadline).
 */
import assert from "node:assert/strict";
import {
  connectTo,
  Event,
  setThreadErrorHook,
  SocketReader,
  spawn,
  withTimeout,
} from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import { type HttpRequest, HttpServer, PeerTimeoutError } from "../../../proto/http/mod.ts";
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

socketTest(
  "a handler reading another connection's body: that client's slowness is not this connection's",
  async () => {
    const server = new HttpServer({ bodyTimeout: 0.1 });
    const parked: { request?: HttpRequest } = {};
    const parkedGone = new Event();
    const relayed: unknown[] = [];
    server.route("POST", "/park", async (r) => {
      parked.request = r;
      await parkedGone.wait(); // its body is read by another connection's handler
      await r.respond(204);
    });
    server.route("GET", "/relay", async (r) => {
      try {
        await r.respond(200, await parked.request!.body.bytes());
      } catch (e) {
        relayed.push(e);
        await r.respond(502, "the upload stalled\n");
      } finally {
        parkedGone.set();
      }
    });
    server.listen("127.0.0.1:0");
    const uploader = await connectTo(server.address);
    const relay = await connectTo(server.address);
    try {
      await uploader.send(
        bytes("POST /park HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"),
      );
      for (let i = 0; i < 200 && parked.request === undefined; i++) await sleep(0.01);
      await relay.send(bytes("GET /relay HTTP/1.1\r\nHost: x\r\n\r\n"));
      const reader = new SocketReader(relay);
      const head = await withTimeout(5, () => reader.readHead(65536));
      assert.match(text(head ?? new Uint8Array()), /^HTTP\/1\.1 502/, String(relayed[0]));
      assert.equal(relayed.length, 1);
    } finally {
      uploader.close();
      relay.close();
      await server.close({ graceSeconds: 1 });
    }
  },
);

socketTest(
  "a client that ends a body its handler left unread ends its connection quietly",
  async () => {
    const died: string[] = [];
    const old = setThreadErrorHook((t, e) => died.push(`${t}: ${e}`));
    const errors: unknown[] = [];
    const server = new HttpServer({ bodyTimeout: 0.5, onError: (e) => errors.push(e) });
    server.route("POST", "/unread", (r) => r.respond(204));
    server.listen("127.0.0.1:0");
    try {
      for (
        const rest of [
          "Content-Length: 10\r\n\r\n12345",
          "Transfer-Encoding: chunked\r\n\r\n5\r\n12",
        ]
      ) {
        const client = await connectTo(server.address);
        try {
          await client.send(bytes(`POST /unread HTTP/1.1\r\nHost: x\r\n${rest}`));
          const head = await withTimeout(5, () => new SocketReader(client).readHead(65536));
          assert.match(text(head ?? new Uint8Array()), /^HTTP\/1\.1 204/);
        } finally {
          client.close(); // the rest of the body never comes
        }
      }
      await sleep(0.2);
    } finally {
      await server.close({ graceSeconds: 1 });
      setThreadErrorHook(old);
    }
    assert.deepEqual(died, []);
    assert.deepEqual(errors, []);
  },
);

socketTest(
  "a reply sent from another thread while the handler reads the body leaves the body deadline armed",
  async () => {
    const server = new HttpServer({ bodyTimeout: 0.2, sendTimeout: 5 });
    const seen: unknown[] = [];
    server.route("POST", "/duplex", async (r) => {
      const writer = spawn(async () => {
        await sleep(0.05); // the handler is waiting for the rest of the body by then
        await r.push(new Uint8Array(4 << 20)); // more than the socket takes at once
        await r.flush();
      });
      try {
        await r.body.bytes();
      } catch (e) {
        seen.push(e);
        throw e;
      } finally {
        await writer.join();
      }
    });
    server.listen("127.0.0.1:0");
    const client = await connectTo(server.address);
    try {
      await client.send(
        bytes("POST /duplex HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"),
      );
      await sleep(0.1); // the reply's send waits for this client to read
      // Read the reply as it comes (the send completes), but never send the body's rest.
      const reader = new SocketReader(client);
      await withTimeout(5, async () => {
        while ((await reader.readSome(65536)).length > 0 && seen.length === 0);
      });
      assert.ok(seen[0] instanceof PeerTimeoutError, String(seen[0]));
    } finally {
      client.close();
      await server.close({ graceSeconds: 0.5 });
    }
  },
);
