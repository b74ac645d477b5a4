/**
 * One server per run, for bench/hono.ts: `hono_server.ts KIND` with KIND
 * "hono-shrapnel" (a Hono app on our HttpServer through `fetchHandler`, FFI backend),
 * "hono-deno" (the same app on Deno.serve), "fetch-shrapnel" (a bare fetch-style
 * function on our server), "native-shrapnel" (our own route API on our server). Routes:
 * "/" (text) and "/json". Prints its port, then serves until killed.
 */
import { Hono } from "hono";
import { setBackend, spawn } from "../mod.ts";
import { fetchHandler, HttpServer } from "../proto/http/mod.ts";

const kind = Deno.args[0];
const BODY = "Hello, World!";
const DATA = { message: "Hello, World!" };

function honoApp(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text(BODY));
  app.get("/json", (c) => c.json(DATA));
  return app;
}

function ours(configure: (server: HttpServer) => void): Promise<void> {
  setBackend("ffi");
  return spawn(() => {
    const server = new HttpServer();
    configure(server);
    server.listen("127.0.0.1:0", 4096);
    console.log((server.address as { port: number }).port);
  }).join();
}

if (kind === "hono-shrapnel") {
  await ours((server) => server.push(fetchHandler(honoApp().fetch)));
} else if (kind === "hono-deno") {
  Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(port) },
    honoApp().fetch,
  );
} else if (kind === "fetch-shrapnel") {
  await ours((server) =>
    server.push(
      fetchHandler((request) =>
        new URL(request.url).pathname === "/json"
          ? Response.json(DATA)
          : new Response(BODY, { headers: { "content-type": "text/plain;charset=UTF-8" } })
      ),
    )
  );
} else if (kind === "native-shrapnel") {
  await ours((server) => {
    server.route(
      "GET",
      "/",
      (r) => r.respond(200, BODY, { "content-type": "text/plain;charset=UTF-8" }),
    );
    server.route(
      "GET",
      "/json",
      (r) => r.respond(200, JSON.stringify(DATA), { "content-type": "application/json" }),
    );
  });
} else {
  console.error("usage: hono_server.ts hono-shrapnel|hono-deno|fetch-shrapnel|native-shrapnel");
  Deno.exit(2);
}
