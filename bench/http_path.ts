/**
 * The HTTP server's own JavaScript per request, without the kernel: HttpServer serving
 * "hello" over fake sockets (a request is there after each yield, a reply is taken
 * whole), side by side with a bare responder on the same fake sockets (a thread per
 * connection that answers a fixed reply: the floor of a thread switch and a call in and
 * out). The fake sockets take every write at once, as the FFI backend's do. Median of
 * rounds; the difference is what parsing, routing and the reply cost.
 *
 * `deno task bench:http-path [--requests=N] [--rounds=N]`
 */
import { spawn, yieldSlice } from "../mod.ts";
import type { Socket } from "../net/socket.ts";
import { HttpServer } from "../proto/http/mod.ts";
import { progress, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const REQUESTS = Number(option("requests", "400000"));
const ROUNDS = Number(option("rounds", "7"));
const CONNECTIONS = 100;
const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
const BODY = new TextEncoder().encode("Hello, World!");
const REPLY = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!",
);

/** A socket whose peer sends `count` requests, each after the server's previous reply. */
function fakeSocket(count: number, onReply: () => void): Socket {
  let left = count, ready = false;
  const fake = {
    setOption() {},
    close() {},
    tryRecvInto(buffer: Uint8Array): number {
      if (!ready) return -1;
      ready = false;
      if (left-- <= 0) return 0;
      buffer.set(REQUEST);
      return REQUEST.length;
    },
    waitForRead(): Promise<void> {
      return yieldSlice().then(() => {
        ready = true;
      });
    },
    trySend(data: Uint8Array): number {
      onReply();
      return data.length;
    },
    sendBorrowed(data: Uint8Array): Promise<number> {
      onReply();
      return Promise.resolve(data.length);
    },
  };
  return fake as unknown as Socket;
}

async function round(kind: "server" | "bare"): Promise<number> {
  let replies = 0, finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const onReply = () => {
    if (++replies === REQUESTS) finish();
  };
  const t0 = performance.now();
  const server = new HttpServer();
  server.route("GET", "/", (r) => r.respond(200, BODY, { "content-type": "text/plain" }));
  await spawn(() => {
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = fakeSocket(REQUESTS / CONNECTIONS, onReply);
      if (kind === "server") {
        server.serve(socket, { family: "ipv4", host: "127.0.0.1", port: i });
        continue;
      }
      spawn(async () => {
        const buffer = new Uint8Array(4096);
        for (;;) {
          let n: number;
          while ((n = socket.tryRecvInto(buffer)) < 0) await socket.waitForRead();
          if (n === 0) return;
          if (socket.trySend(REPLY) < REPLY.length) await socket.sendBorrowed(REPLY);
        }
      });
    }
  }).join();
  await finished;
  const ns = (performance.now() - t0) * 1e6 / REQUESTS;
  if (kind === "server") await spawn(() => server.close()).join();
  return ns;
}

const times = { server: [] as number[], bare: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  times.server.push(await round("server"));
  times.bare.push(await round("bare"));
  progress(
    `round ${r + 1}/${ROUNDS}: HttpServer ${Math.round(times.server.at(-1)!)} ns/request, ` +
      `bare ${Math.round(times.bare.at(-1)!)} ns/request`,
  );
}
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const server = median(times.server), bare = median(times.bare);
const rows: Row[] = [
  { name: "bare responder (thread switch only)", "ns/request": Math.round(bare), ratio: "1.00x" },
  {
    name: "HttpServer (parse, route, reply)",
    "ns/request": Math.round(server),
    ratio: `${(server / bare).toFixed(2)}x`,
  },
];
table(
  `HTTP per-request JavaScript over fake sockets, ${
    REQUESTS.toLocaleString("en")
  } requests on ${CONNECTIONS} connections, median of ${ROUNDS}`,
  rows,
);
console.log(`HttpServer's own work: ${Math.round(server - bare)} ns a request`);
