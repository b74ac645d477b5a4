/**
 * The two ends of partition_test.ts, each run by it inside its own network namespace.
 *
 * `serve <host> <port>`: an HTTP server (Deno.serve) whose `/slow` answers a 32 MiB body
 * at 16 KiB per 50 ms: a transfer that is always under way when the link is cut.
 *
 * `fetch <backend> <url>`: our HttpClient with its default deadlines. Starts the download,
 * prints `{"event":"receiving"}` once bytes flow, then waits for a line on stdin (the test
 * has partitioned the link) and starts a second request on a new connection. Prints one
 * JSON line per outcome (`body`, `connect`): the error's class, phase and deadline, and the
 * seconds from the last byte (body) or from its start (connect) to the error.
 */
import { setBackend, spawn } from "../../../mod.ts";
import { HttpClient, HttpTimeoutError } from "../../../proto/http/mod.ts";
import { PeerLostError } from "../../../net/errors.ts";

const PIECE = new Uint8Array(16384).fill(120);

function serve(hostname: string, port: number): void {
  Deno.serve({ hostname, port, onListen: () => console.log("listening") }, () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => controller.enqueue(PIECE), 50);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return new Response(body, { headers: { "content-length": String(32 << 20) } });
  });
}

function outcome(event: string, error: unknown, seconds: number): string {
  return JSON.stringify({
    event,
    error: error instanceof Error ? error.constructor.name : String(error),
    message: error instanceof Error ? error.message : "",
    httpTimeout: error instanceof HttpTimeoutError,
    phase: error instanceof HttpTimeoutError ? error.phase : null,
    deadline: error instanceof HttpTimeoutError ? error.seconds : null,
    peerLost: error instanceof PeerLostError,
    seconds,
  });
}

async function fetchAcrossPartition(url: string): Promise<void> {
  const stdin = Deno.stdin.readable.getReader();
  const downloader = new HttpClient();
  const response = await downloader.request(url);
  let received = 0;
  let lastByte = performance.now();
  let announced = false;
  const download = spawn({ name: "download" }, async () => {
    try {
      for (;;) {
        const piece = await response.body.read();
        if (piece.length === 0) return outcome("body", "the body ended", 0);
        received += piece.length;
        lastByte = performance.now();
        if (!announced && received >= 65536) {
          announced = true;
          console.log(JSON.stringify({ event: "receiving", received }));
        }
      }
    } catch (e) {
      return outcome("body", e, (performance.now() - lastByte) / 1000);
    }
  });
  // The test cuts the link, then says so.
  const said = await stdin.read();
  if (said.done) throw new Error("stdin closed before the partition");
  const connector = new HttpClient();
  const t0 = performance.now();
  const connect = spawn({ name: "connect" }, async () => {
    try {
      const late = await connector.request(url);
      await late.release();
      return outcome("connect", "answered across the partition", 0);
    } catch (e) {
      return outcome("connect", e, (performance.now() - t0) / 1000);
    }
  });
  const results = [await download.join(), await connect.join()];
  for (const line of results) console.log(line);
  downloader.close();
  connector.close();
}

const [mode, ...args] = Deno.args;
if (mode === "serve") {
  serve(args[0], Number(args[1]));
} else if (mode === "fetch") {
  setBackend(args[0] as "ffi" | "deno");
  await spawn({ name: "main" }, () => fetchAcrossPartition(args[1])).join();
  Deno.exit(0); // the partitioned connections are not waited for
} else {
  throw new Error(`usage: partition_child.ts serve <host> <port> | fetch <backend> <url>`);
}
