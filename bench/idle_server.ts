/**
 * Holds idle connections for bench/idle.ts: `idle_server.ts KIND COUNT`, KIND "ffi" or
 * "deno" (shrapnel: a thread per connection blocked in recv) or "plain" (Deno.listen: a
 * pending read per connection). Prints "listening PORT" (after a GC), then "ready" once
 * COUNT connections are accepted and waiting (after another GC).
 */
import { listenOn, setBackend, type Socket, spawn } from "../mod.ts";

const [kind, countText] = Deno.args;
const count = Number(countText);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
let accepted = 0;

function settle(): void {
  gc();
  gc();
}

async function hold(conn: Socket): Promise<void> {
  const buffer = new Uint8Array(16);
  try {
    while (await conn.recvInto(buffer) > 0) { /* idle connections send nothing */ }
  } catch { /* gone */ }
  conn.close();
}

if (kind === "ffi" || kind === "deno") {
  setBackend(kind);
  const server = listenOn("127.0.0.1:0", 4096);
  settle();
  console.log(`listening ${(server.localAddress() as { port: number }).port}`);
  await spawn(async () => {
    while (accepted < count) {
      for (const [conn] of await server.acceptMany(1024)) {
        spawn(hold, conn);
        accepted++;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    settle();
    console.log("ready");
    await new Promise(() => {}); // hold until killed
  }).join();
} else {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  settle();
  console.log(`listening ${listener.addr.port}`);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(16);
      try {
        while (await conn.read(buffer) !== null) { /* idle */ }
      } catch { /* gone */ }
    })();
    if (++accepted === count) {
      await new Promise((r) => setTimeout(r, 200));
      settle();
      console.log("ready");
    }
  }
}
