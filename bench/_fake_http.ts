import { spawn, yieldSlice } from "../mod.ts";
import { HttpServer } from "../proto/http/mod.ts";
import type { Socket } from "../net/socket.ts";

const REQ = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
const N = Number(Deno.args[0] ?? 200000), C = 100;
let served = 0;
let done!: () => void;
function fake(): Socket {
  let left = N / C, ready = false;
  return {
    setsockopt() {},
    close() {},
    tryRecvInto(buf: Uint8Array): number {
      if (!ready) return -1;
      ready = false;
      if (left-- <= 0) return 0;
      buf.set(REQ);
      return REQ.length;
    },
    waitForRead(): Promise<void> {
      return yieldSlice().then(() => {
        ready = true;
      });
    },
    sendBorrowed(data: Uint8Array): Promise<number> {
      if (++served === N) done();
      return Promise.resolve(data.length);
    },
  } as unknown as Socket;
}
const body = new TextEncoder().encode("Hello, World!");
const bare = Deno.args[1] === "bare";
const times: number[] = [];
for (let round = 0; round < 7; round++) {
  served = 0;
  const finished = new Promise<void>((r) => done = r);
  const t0 = performance.now();
  if (bare) {
    const reply = new TextEncoder().encode(
      "HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!",
    );
    for (let i = 0; i < C; i++) {
      const s = fake();
      spawn(async () => {
        const buf = new Uint8Array(4096);
        for (;;) {
          let n: number;
          while ((n = s.tryRecvInto(buf)) < 0) await s.waitForRead();
          if (n === 0) return;
          await s.sendBorrowed(reply);
        }
      });
    }
  } else {await spawn(async () => {
      const server = new HttpServer();
      server.route(
        "GET",
        "/",
        (request) => request.respond(200, body, { "content-type": "text/plain" }),
      );
      for (let i = 0; i < C; i++) {
        server.serve(fake(), { family: "ipv4", host: "127.0.0.1", port: i });
      }
    }).join();}
  await finished;
  times.push((performance.now() - t0) * 1e6 / N);
}
times.sort((a, b) => a - b);
console.log(`median ${times[3].toFixed(0)} ns/request, best ${times[0].toFixed(0)}`);
Deno.exit(0);
