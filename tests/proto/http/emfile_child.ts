/**
 * Run by emfile_test.ts under a low descriptor limit: an HTTP server (or a backdoor) on
 * the backend named by the first argument. Prints its port, then serves until stdin closes;
 * GET /stats answers the server's statistics as JSON.
 */
import { HttpServer } from "../../../proto/http/mod.ts";
import { serve as backdoor } from "../../../proto/backdoor/mod.ts";
import { setBackend, spawn } from "../../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");
const kind = Deno.args[1] ?? "http";

await spawn(async () => {
  const reports: string[] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => {
    reports.push(args.map(String).join(" "));
    originalError(...args);
  };
  if (kind === "http") {
    const server = new HttpServer();
    server.route("GET", "/", (r) => r.respond(200, "ok\n"));
    server.route(
      "GET",
      "/stats",
      (r) => r.respond(200, JSON.stringify({ ...server.statistics(), reports })),
    );
    server.listen("127.0.0.1:0");
    console.log(server.address.family === "unix" ? 0 : server.address.port);
    await Deno.stdin.readable.pipeTo(new WritableStream());
    await server.close();
  } else {
    const door = backdoor({
      port: 0,
      maxSessions: 1000,
      login: (u, p) => u === "ops" && p === "pw",
    });
    console.log(door.address.family === "unix" ? 0 : door.address.port);
    await Deno.stdin.readable.pipeTo(new WritableStream());
    console.log(JSON.stringify({ ...door.statistics(), reports }));
    await door.close();
  }
}).join();
