/**
 * Run by first_request_emfile_test.ts under a low descriptor limit: an HTTP server with a
 * fetch handler (whose code loads lazily) takes its first request while the process has
 * no descriptor left. Prints the reply's status line, or the error.
 */
import { fetchHandler, HttpServer } from "../../../proto/http/mod.ts";
import { setBackend, sleep, spawn } from "../../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");

await spawn(async () => {
  const server = new HttpServer();
  server.push(fetchHandler(() => new Response("loaded\n")));
  server.listen("127.0.0.1:0");
  const port = server.address.family === "unix" ? 0 : server.address.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await sleep(0.3); // the server accepts it and waits for its request
  const held: Deno.FsFile[] = [];
  try {
    for (;;) held.push(Deno.openSync("/dev/null"));
  } catch (e) {
    if (!(e instanceof Error) || !/too many open files/i.test(e.message)) throw e;
  }
  let reply = "";
  try {
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buffer = new Uint8Array(4096);
    const timer = setTimeout(() => conn.close(), 10_000);
    const n = await conn.read(buffer);
    clearTimeout(timer);
    reply = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    for (const f of held) f.close();
  }
  console.log(JSON.stringify({ exhausted: held.length, status: reply.split("\r\n")[0] }));
  conn.close();
  await server.close();
}).join();
