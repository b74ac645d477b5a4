/**
 * The client's handshake fields from the caller: a header or subprotocol that would
 * smuggle a line into the request (CR/LF) or is not a token is refused with a typed error
 * before anything is sent, as `HttpClient` refuses it.
 */
import assert from "node:assert/strict";
import { listenOn, TimeoutError, withTimeout } from "../../../mod.ts";
import { InvalidFieldError } from "../../../proto/http/errors.ts";
import { connectWebSocket } from "../../../proto/websocket/mod.ts";
import { socketTest } from "../../net/_backends.ts";

socketTest(
  "connectWebSocket refuses header fields and subprotocols that are not valid",
  async () => {
    const listener = listenOn("127.0.0.1:0");
    const port = (listener.localAddress() as { port: number }).port;
    try {
      const bad: Parameters<typeof connectWebSocket>[1][] = [
        { headers: { "x-user": "alice\r\nAuthorization: Bearer stolen" } },
        { headers: { "x-user\r\nInjected": "1" } },
        { headers: { "x-user": "a\nb" } },
        { protocols: ["chat\r\nInjected: 1"] },
        { protocols: ["two words"] },
      ];
      for (const options of bad) {
        await assert.rejects(
          connectWebSocket(`ws://127.0.0.1:${port}/`, { ...options, handshakeTimeout: 2 }),
          InvalidFieldError,
          JSON.stringify(options),
        );
      }
      // Nothing reached the server: no connection was made.
      const accepted = await withTimeout(0.3, () => listener.accept()).then(
        ([socket]) => {
          socket.close();
          return true;
        },
        (e) => {
          if (e instanceof TimeoutError) return false;
          throw e;
        },
      );
      assert.equal(accepted, false, "a connection was made");
    } finally {
      listener.close();
    }
  },
);
