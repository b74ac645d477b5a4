/**
 * The cluster tests' program: run without SHRAPNEL_WORKER_ID it is the supervisor
 * (`cluster`), as a worker it serves HTTP on 127.0.0.1:<port> with `reusePort`.
 *
 * Usage: deno run -A --unstable-net tests/cluster/_server.ts <port> [workers]
 * Worker environment knobs: CLUSTER_TEST_CRASH=1 exits at once with code 3 (a crash
 * loop); CLUSTER_TEST_CRASH_IF=<path>: the same if that file exists at start;
 * CLUSTER_TEST_HANG_IF=<path>: if that file exists at start, the worker listens but never
 * reports ready; CLUSTER_TEST_EXCLUSIVE=<dir>: the worker owns `<dir>/worker-<id>`
 * exclusively while it runs (created new at start, removed when it has drained): a second
 * process of the same id exits at once with code 4, as a second owner of exclusive state
 * fails; CLUSTER_TEST_GRACE seconds for the supervisor (default 5).
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

/** Whether `path` exists (any other error of stat is thrown). */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

if (!isWorker()) {
  await cluster({
    workers: Number(Deno.args[1] ?? 2),
    graceSeconds: Number(Deno.env.get("CLUSTER_TEST_GRACE") ?? 5),
    readyTimeout: 20,
  });
} else {
  if (Deno.env.get("CLUSTER_TEST_CRASH") === "1") Deno.exit(3);
  const crashIf = Deno.env.get("CLUSTER_TEST_CRASH_IF");
  if (crashIf !== undefined && await exists(crashIf)) Deno.exit(3);
  const exclusive = Deno.env.get("CLUSTER_TEST_EXCLUSIVE");
  const owned = exclusive === undefined ? null : `${exclusive}/worker-${workerId()}`;
  if (owned !== null) {
    try {
      Deno.writeTextFileSync(owned, `${Deno.pid}\n`, { createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      console.error(
        `worker ${workerId()}: ${owned} is owned by pid ${Deno.readTextFileSync(owned)}`,
      );
      Deno.exit(4);
    }
  }
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
    if (hangIf !== undefined && await exists(hangIf)) {
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
      if (owned !== null) Deno.removeSync(owned);
      member.close();
    }
  }, { signals: ["SIGINT"] });
}
