/**
 * Descriptor exhaustion does not kill a server: under a low `ulimit -n`, a flood of
 * connections makes accept fail with EMFILE; the shared acceptor backs off, reports the
 * burst once, counts it, and serves again once the flood's connections are gone.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../../net/_backends.ts";
import { ffiUnavailableReason } from "../../../mod.ts";

const child = new URL("./emfile_child.ts", import.meta.url).pathname;

async function readLine(reader: ReadableStreamDefaultReader<string>, sofar: { text: string }) {
  while (!sofar.text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child ended: ${sofar.text}`);
    sofar.text += value;
  }
  const i = sofar.text.indexOf("\n");
  const line = sofar.text.slice(0, i);
  sofar.text = sofar.text.slice(i + 1);
  return line;
}

/** Sends `request` on a new connection; the reply's text (bounded in time). */
async function exchange(port: number, request: string, until: RegExp): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(65536);
    const deadline = Date.now() + 10_000;
    while (!until.test(text)) {
      const timer = setTimeout(() => conn.close(), Math.max(1, deadline - Date.now()));
      const n = await conn.read(buffer).catch(() => null);
      clearTimeout(timer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function flood(port: number, count: number, request: string): Promise<void> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(conn);
    if (request) await conn.write(new TextEncoder().encode(request));
  }
  await new Promise((r) => setTimeout(r, 500)); // the server runs out meanwhile
  for (const c of conns) c.close();
  await new Promise((r) => setTimeout(r, 300));
}

for (const backend of BACKENDS) {
  for (const kind of ["http", "backdoor"]) {
    const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
    Deno.test({
      name: `${backend}: ${kind} server survives EMFILE and serves again`,
      ignore: Deno.build.os === "windows" ||
        (unavailable !== null && Deno.env.get("CI") !== "true"),
      fn: async () => {
        const deno = Deno.execPath();
        const process = new Deno.Command("sh", {
          args: [
            "-c",
            `ulimit -n 48 && exec "${deno}" run -A --unstable-net "${child}" ${backend} ${kind}`,
          ],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).spawn();
        const out = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
        const sofar = { text: "" };
        try {
          const port = Number(await readLine(out, sofar));
          assert.ok(port > 0);
          // Deno 2.9 sets something up lazily in a new process (ext/signals) and panics if
          // descriptors are out then: let it settle before the flood.
          await new Promise((r) => setTimeout(r, 2000));
          if (kind === "http") {
            await flood(port, 120, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
            const reply = await exchange(port, "GET /stats HTTP/1.1\r\nhost: x\r\n\r\n", /\}$/);
            assert.match(reply, /^HTTP\/1\.1 200/, `no answer after EMFILE: ${reply}`);
            const stats = JSON.parse(reply.slice(reply.indexOf("{")));
            assert.ok(stats.acceptor.resourceErrors > 0, JSON.stringify(stats));
            assert.equal(stats.acceptor.lastResourceError, "EMFILE");
            // Reported once per burst, not once per error.
            const reported = stats.reports.filter((r: string) => /accept failed/.test(r)).length;
            assert.equal(reported, stats.acceptor.resourceBursts);
            assert.equal(stats.acceptor.resourceBursts, 1, JSON.stringify(stats));
          } else {
            await flood(port, 120, "");
            const reply = await exchange(port, "ops\npw\n1+1\n", /2\n/);
            assert.match(reply, /login: /, `no answer after EMFILE: ${reply}`);
            assert.match(reply, /2\n/);
          }
        } finally {
          await process.stdin.close();
          const rest: string[] = [];
          for (;;) {
            const { value, done } = await out.read();
            if (done) break;
            rest.push(value);
          }
          const status = await process.status;
          const err = await new Response(process.stderr).text();
          assert.equal(
            status.code,
            0,
            `child failed (${status.code} ${status.signal}): ${sofar.text}${rest.join("")}\n${err}`,
          );
          if (kind === "backdoor") {
            const stats = JSON.parse((sofar.text + rest.join("")).trim().split("\n").at(-1)!);
            assert.ok(stats.acceptor.resourceErrors > 0, JSON.stringify(stats));
          }
        }
      },
    });
  }
}
