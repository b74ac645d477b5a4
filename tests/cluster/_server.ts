/**
 * The cluster tests' program: run without SHRAPNEL_WORKER_ID it is the supervisor
 * (`cluster`), as a worker it serves HTTP on 127.0.0.1:<port> with `reusePort`.
 *
 * Usage: deno run -A --unstable-net tests/cluster/_server.ts <port> [workers]
 * Worker environment knobs: CLUSTER_TEST_CRASH=1 exits at once with code 3 (a crash
 * loop); CLUSTER_TEST_HANG_IF=<path>: if that file exists at start, the worker listens but
 * never reports ready; CLUSTER_TEST_GRACE seconds for the supervisor (default 5).
 *
 * Routes: GET /hello -> "hello <id> <pid>"; GET /slow?ms=N -> the same after N ms.
 */
import {
  cluster,
  HttpServer,
  isWorker,
  joinCluster,
  main,
  sleep,
  stopAccepting,
  withTimeout,
  workerBackdoorPath,
  workerId,
} from "../../mod.ts";
import * as backdoor from "../../proto/backdoor/mod.ts";

const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port <= 0) throw new Error("usage: _server.ts <port> [workers]");

if (!isWorker()) {
  await cluster({
    workers: Number(Deno.args[1] ?? 2),
    graceSeconds: Number(Deno.env.get("CLUSTER_TEST_GRACE") ?? 5),
    readyTimeout: 20,
  });
} else {
  if (Deno.env.get("CLUSTER_TEST_CRASH") === "1") Deno.exit(3);
  await main(async () => {
    const id = workerId();
    const server = new HttpServer({ idleTimeout: 5 });
    const hello = `hello ${id} ${Deno.pid}\n`;
    server.route("GET", "/hello", (r) => r.respond(200, hello));
    server.route("GET", "/slow", async (r) => {
      await sleep(Number(r.query.get("ms") ?? 100) / 1000);
      await r.respond(200, hello);
    });
    const listener = server.listen(`127.0.0.1:${port}`, { reusePort: true });
    const backdoorPath = workerBackdoorPath();
    const door = backdoorPath === null
      ? null
      : backdoor.serve({ unixPath: backdoorPath, globals: { server, id } });
    const hangIf = Deno.env.get("CLUSTER_TEST_HANG_IF");
    if (hangIf !== undefined && (await Deno.stat(hangIf).catch(() => null)) !== null) {
      await sleep(3600); // never ready: the supervisor's readyTimeout must act
    }
    const member = await joinCluster({
      statistics: () => ({ id, pid: Deno.pid, ...server.statistics() }),
      answers: {
        whoami: () => ({ id, pid: Deno.pid }),
        broken: () => {
          throw new Error(`worker ${id} cannot say`);
        },
      },
    });
    await member.waitForStop();
    // Drain: no new connections here (the other workers take them), the ones in flight
    // finish, then the rest (idle keep-alive connections) are closed.
    await stopAccepting(listener, (socket, peer) => server.serve(socket, peer));
    try {
      await withTimeout(4, async () => {
        while (server.statistics().open > 0) await sleep(0.01);
      });
    } finally {
      await server.close();
      await door?.close();
      member.close();
    }
  }, { signals: ["SIGINT"] });
}
