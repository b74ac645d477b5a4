/**
 * A load generator for the cluster tests: plain `Deno.connect` clients (no shrapnel
 * threads, so it keeps running while the test's threads wait), one connection per
 * request (`Connection: close`), each request under a deadline.
 */

/** One request's outcome. */
export interface Outcome {
  /** When the request started (performance.now()). */
  started: number;
  /** When it ended. */
  ended: number;
  /** "200" or the error. */
  ok: boolean;
  /** The responding worker's pid (from the "hello <id> <pid>" body), or 0. */
  pid: number;
  /** The worker id from the body, or 0. */
  id: number;
  /** What went wrong. */
  error?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sends `GET path` to 127.0.0.1:port on a fresh connection; never throws. */
export async function request(port: number, path: string, deadlineMs = 10_000): Promise<Outcome> {
  const started = performance.now();
  let conn: Deno.TcpConn | null = null;
  const timer = setTimeout(() => conn?.close(), deadlineMs);
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      encoder.encode(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`),
    );
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = decoder.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const m = /^HTTP\/1\.1 200 [^]*\r\n\r\nhello (\d+) (\d+)\n$/.exec(text);
    if (m === null) {
      return {
        started,
        ended: performance.now(),
        ok: false,
        pid: 0,
        id: 0,
        error: text || "empty",
      };
    }
    return { started, ended: performance.now(), ok: true, id: Number(m[1]), pid: Number(m[2]) };
  } catch (e) {
    return { started, ended: performance.now(), ok: false, pid: 0, id: 0, error: String(e) };
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the deadline already */ }
  }
}

/** A running load: `concurrency` loops of requests until `stop()`. */
export class Load {
  readonly outcomes: Outcome[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(port: number, path: string, concurrency: number) {
    this.#loops = Array.from({ length: concurrency }, async () => {
      while (this.#running) this.outcomes.push(await request(port, path));
    });
  }

  /** Stops issuing requests and waits for those in flight. */
  async stop(): Promise<Outcome[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.outcomes;
  }

  /** The failed requests so far. */
  get failures(): Outcome[] {
    return this.outcomes.filter((o) => !o.ok);
  }
}

/** Waits until 127.0.0.1:port answers /hello, or throws after `seconds`. */
export async function waitServing(port: number, seconds: number): Promise<Outcome> {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const o = await request(port, "/hello", 2000);
    if (o.ok) return o;
    if (performance.now() > deadline) throw new Error(`nothing serves port ${port}: ${o.error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port free now on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether process `pid` exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
