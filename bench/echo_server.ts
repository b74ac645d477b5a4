/**
 * One echo server per run, for bench/echo.ts: `deno run -A bench/echo_server.ts KIND`
 * with KIND "ffi" or "deno" (shrapnel on that backend, a thread per connection),
 * "plain" (Deno.listen, an async function per connection) or "node" (node:net).
 * Prints its port on the first line, then serves until killed.
 */
import { createServer } from "node:net";
import { ffiPoller, listenOn, setBackend, type Socket, spawn } from "../mod.ts";

const kind = Deno.args[0];
// For profiling runs (--cpu-prof writes its file on a clean exit): stop after N seconds.
const exitAfter = Deno.args.find((a) => a.startsWith("--exit-after="));
if (exitAfter) {
  setTimeout(() => {
    const poller = ffiPoller();
    if (kind === "ffi" && !("reason" in poller)) console.error(poller.statistics());
    Deno.exit(0);
  }, Number(exitAfter.split("=")[1]) * 1000);
}

async function serveConnection(conn: Socket): Promise<void> {
  const buffer = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.recvInto(buffer);
      if (n === 0) break;
      await conn.send(buffer.subarray(0, n));
    }
  } catch { /* the client went away */ }
  conn.close();
}

if (kind === "ffi" || kind === "deno") {
  setBackend(kind);
  const server = listenOn("127.0.0.1:0", 4096);
  console.log((server.localAddress() as { port: number }).port);
  await spawn({ name: "acceptor" }, async () => {
    for (;;) {
      for (const [conn] of await server.acceptMany(256)) spawn(serveConnection, conn);
    }
  }).join();
} else if (kind === "plain") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(4096);
      try {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          let written = 0;
          while (written < n) written += await conn.write(buffer.subarray(written, n));
        }
      } catch { /* the client went away */ }
      try {
        conn.close();
      } catch { /* closed already */ }
    })();
  }
} else if (kind === "node") {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("data", (data) => socket.write(data));
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    console.log((server.address() as { port: number }).port);
  });
} else {
  console.error("usage: echo_server.ts ffi|deno|plain|node");
  Deno.exit(2);
}
