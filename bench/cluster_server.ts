/**
 * The HTTP "hello" cluster for bench/cluster.ts: `cluster_server.ts PORT WORKERS [ffi|deno]`.
 * The supervisor (`cluster`) starts WORKERS processes of this program, each serving
 * "Hello, World!" on 127.0.0.1:PORT with `reusePort`, until SIGTERM.
 */
import {
  cluster,
  HttpServer,
  isWorker,
  joinCluster,
  main,
  setBackend,
  stopAccepting,
} from "../mod.ts";

const [port, workers, backend = "ffi"] = Deno.args;
const BODY = new TextEncoder().encode("Hello, World!");

if (!isWorker()) {
  await cluster({ workers: Number(workers), graceSeconds: 2 });
} else {
  setBackend(backend === "deno" ? "deno" : "ffi");
  await main(async () => {
    const server = new HttpServer();
    server.route("GET", "/", (r) => r.respond(200, BODY, { "content-type": "text/plain" }));
    const listener = server.listen(`127.0.0.1:${port}`, { backlog: 4096, reusePort: true });
    const member = await joinCluster({ statistics: () => server.statistics() });
    await member.waitForStop();
    await stopAccepting(listener, (socket, peer) => server.serve(socket, peer));
    await server.close();
    member.close();
  }, { signals: ["SIGINT"] });
}
