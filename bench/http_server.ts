/**
 * One HTTP "hello" server per run, for bench/http.ts: `http_server.ts KIND` with KIND
 * "ffi" or "deno" (our HttpServer on that socket backend), "deno-serve" (Deno.serve) or
 * "node" (node:http). Prints its port, then serves until killed.
 */
import { createServer } from "node:http";
import { setBackend, spawn } from "../mod.ts";
import { HttpServer } from "../proto/http/mod.ts";

const kind = Deno.args[0];
const BODY = "Hello, World!";

if (kind === "ffi" || kind === "deno") {
  setBackend(kind);
  const body = new TextEncoder().encode(BODY);
  await spawn(() => {
    const server = new HttpServer();
    server.route(
      "GET",
      "/",
      (request) => request.respond(200, body, { "content-type": "text/plain" }),
    );
    server.listen("127.0.0.1:0", 4096);
    console.log((server.address as { port: number }).port);
  }).join();
} else if (kind === "deno-serve") {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(port),
  }, () => new Response(BODY, { headers: { "content-type": "text/plain" } }));
} else if (kind === "node") {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(BODY);
  });
  server.listen(0, "127.0.0.1", () => console.log((server.address() as { port: number }).port));
} else {
  console.error("usage: http_server.ts ffi|deno|deno-serve|node");
  Deno.exit(2);
}
