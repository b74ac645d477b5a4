/**
 * A network partition in the middle of a download: the HTTP client's default deadlines
 * fire, with no help from the caller.
 *
 * The client, a router and the server run in three network namespaces this test creates,
 * joined by two veth pairs with private addresses (client 10.211.0.2 - .1 router .5 -
 * 10.211.0.6 server). Those namespaces have no other interface and no route anywhere else,
 * so the test is as isolated from any real network as loopback is; it deletes them
 * afterwards, also when it fails.
 *
 * The partition happens in the router, as when a link beyond the client's gateway goes
 * down or a firewall starts dropping: a zero-length `pfifo` queue on both of its links drops
 * every packet it would forward, in both directions. Client and server see no error (no RST,
 * no ICMP, their gateway's link-layer address stays known): only silence. Dropping on the
 * client's own link would not do: Linux notices its own drops and fails a connect with
 * ETIMEDOUT after 6 s. (`netem` is not in every kernel; `pfifo` is.)
 *
 * Then a read of the body waits `bodyIdleTimeoutSeconds` (30 s by default) and a new
 * connection `connectTimeoutSeconds` (10 s), each ending in an `HttpTimeoutError` naming its
 * phase. Both backends run at once, so the test takes about 31 s.
 *
 * Needs root and iproute2 (`ip netns`): skipped with the reason otherwise; under CI=true a
 * root whose namespaces cannot be set up fails.
 */
import assert from "node:assert/strict";
import { type BackendName, ffiUnavailableReason } from "../../../mod.ts";
import { denoChildEnv } from "../../net/_backends.ts";
import { killNow } from "../../_servers.ts";
import { withCleanups } from "../../_cleanups.ts";

const CHILD = new URL("./partition_child.ts", import.meta.url).pathname;
const CLIENT_ADDRESS = "10.211.0.2";
const ROUTER_CLIENT_SIDE = "10.211.0.1";
const ROUTER_SERVER_SIDE = "10.211.0.5";
const SERVER_ADDRESS = "10.211.0.6";
const PORT = 8080;
/** The client's documented defaults (proto/http/client.ts). */
const BODY_IDLE_SECONDS = 30;
const CONNECT_SECONDS = 10;
/** Slack for a loaded machine: a deadline may fire this late, never early. */
const MARGIN_SECONDS = 3;
const NAMESPACE_PREFIX = "shrapnel-partition-";

const decoder = new TextDecoder();

async function run(...args: string[]): Promise<string> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  if (!out.success) {
    throw new Error(`${args.join(" ")}: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

/** Namespaces of earlier runs whose process is gone (a run killed before its cleanup). */
async function removeStaleNamespaces(): Promise<void> {
  for (const line of (await run("ip", "netns", "list")).split("\n")) {
    const name = line.split(" ")[0];
    const pid = Number(name.slice(NAMESPACE_PREFIX.length).split("-")[0]);
    if (!name.startsWith(NAMESPACE_PREFIX) || pid === Deno.pid) continue;
    let alive = true;
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      alive = false;
    }
    if (!alive) await run("ip", "netns", "del", name);
  }
}

/** Why this test cannot run here, or null. */
async function unavailable(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "network namespaces are Linux's";
  if (Deno.uid() !== 0) return "network namespaces need root";
  try {
    await run("ip", "-V");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "iproute2 (`ip`) is not installed";
    throw e;
  }
  const probe = `${NAMESPACE_PREFIX}${Deno.pid}-probe`;
  try {
    await run("ip", "netns", "add", probe);
  } catch (e) {
    return `ip netns add failed (${(e as Error).message})`;
  }
  await run("ip", "netns", "del", probe);
  await removeStaleNamespaces();
  return null;
}

interface Outcome {
  event: string;
  error: string;
  message: string;
  httpTimeout: boolean;
  phase: string | null;
  deadline: number | null;
  peerLost: boolean;
  seconds: number;
}

/** A child's stdout, line by line. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next line. */
  async next(): Promise<string> {
    for (;;) {
      const end = this.#buffer.indexOf("\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      const { done, value } = await this.#reader.read();
      if (done) throw new Error(`the child ended; it said: ${this.#buffer}`);
      this.#buffer += value;
    }
  }
  /** Stops reading. */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function inNamespace(namespace: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", namespace, Deno.execPath(), "run", "-A", "--unstable-net", ...args],
    env: denoChildEnv(),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

const why = await unavailable();
const ci = Deno.env.get("CI") === "true";
const possible = Deno.build.os === "linux" && Deno.uid() === 0;
const backends: BackendName[] = ffiUnavailableReason() === null || ci ? ["ffi", "deno"] : ["deno"];

Deno.test({
  name: `a link partitioned mid-download: the body-idle and connect deadlines fire (${
    backends.length === 2
      ? "ffi, deno"
      : `deno; ffi skipped: ${ffiUnavailableReason()?.split(" (")[0]}`
  })${why !== null && !(ci && possible) ? ` (skipped: ${why})` : ""}`,
  ignore: why !== null && !(ci && possible),
  fn: async () => {
    if (why !== null) throw new Error(`the partition test cannot run under CI: ${why}`);
    const unavailableFfi = ffiUnavailableReason();
    if (backends.includes("ffi") && unavailableFfi !== null) {
      throw new Error(`FFI backend unavailable under CI: ${unavailableFfi}`);
    }
    const server = `${NAMESPACE_PREFIX}${Deno.pid}-server`;
    const router = `${NAMESPACE_PREFIX}${Deno.pid}-router`;
    const client = `${NAMESPACE_PREFIX}${Deno.pid}-client`;
    const children: Deno.ChildProcess[] = [];
    const outputs: Lines[] = [];
    const created: string[] = [];
    const qdiscs: string[] = [];
    const deadline = setTimeout(() => children.forEach(killNow), 90_000);
    // Every cleanup step runs even when one throws; all their errors come out.
    await withCleanups(async () => {
      for (const namespace of [server, router, client]) {
        await run("ip", "netns", "add", namespace);
        created.push(namespace);
      }
      const links: [string, string, string, string][] = [
        [client, "veth-cli", CLIENT_ADDRESS, ROUTER_CLIENT_SIDE],
        [server, "veth-srv", SERVER_ADDRESS, ROUTER_SERVER_SIDE],
      ];
      for (const [namespace, link, address, gateway] of links) {
        const routerLink = `${link}-r`;
        await run(
          "ip",
          "link",
          "add",
          link,
          "netns",
          namespace,
          "type",
          "veth",
          "peer",
          "name",
          routerLink,
          "netns",
          router,
        );
        await run("ip", "-n", namespace, "addr", "add", `${address}/30`, "dev", link);
        await run("ip", "-n", router, "addr", "add", `${gateway}/30`, "dev", routerLink);
        await run("ip", "-n", namespace, "link", "set", link, "up");
        await run("ip", "-n", router, "link", "set", routerLink, "up");
        await run("ip", "-n", namespace, "route", "add", "default", "via", gateway);
        // The gateway stays known while partitioned, as a live router's address does.
        const [{ address: mac }] = JSON.parse(
          await run("ip", "-n", router, "-j", "link", "show", routerLink),
        );
        await run(
          "ip",
          "-n",
          namespace,
          "neigh",
          "replace",
          gateway,
          "lladdr",
          mac,
          "nud",
          "permanent",
          "dev",
          link,
        );
      }
      await run(
        "ip",
        "netns",
        "exec",
        router,
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
      );

      const serving = inNamespace(server, [CHILD, "serve", SERVER_ADDRESS, String(PORT)]);
      children.push(serving);
      await serving.stdin.close();
      outputs.push(new Lines(serving.stdout));
      assert.equal(await outputs[0].next(), "listening");

      const url = `http://${SERVER_ADDRESS}:${PORT}/slow`;
      const fetchers = await Promise.all(backends.map(async (backend) => {
        const child = inNamespace(client, [CHILD, "fetch", backend, url]);
        children.push(child);
        const lines = new Lines(child.stdout);
        outputs.push(lines);
        assert.equal(JSON.parse(await lines.next()).event, "receiving", backend);
        return { backend, child, lines };
      }));

      // The partition: the router drops every packet, both ways.
      for (const link of ["veth-cli-r", "veth-srv-r"]) {
        const drop = ["tc", "qdisc", "add", "dev", link, "root", "pfifo", "limit", "0"];
        await run("ip", "netns", "exec", router, ...drop);
        qdiscs.push(link);
      }
      const cut = performance.now();
      const writers = fetchers.map(({ child }) => child.stdin.getWriter());
      await Promise.all(writers.map((w) => w.write(new TextEncoder().encode("partitioned\n"))));

      const results = await Promise.all(fetchers.map(async ({ backend, lines }) => {
        const outcomes = new Map<string, Outcome>();
        for (let i = 0; i < 2; i++) {
          const outcome = JSON.parse(await lines.next()) as Outcome;
          outcomes.set(outcome.event, outcome);
        }
        return { backend, outcomes, sinceCut: (performance.now() - cut) / 1000 };
      }));
      const say = JSON.stringify(
        results.map(({ backend, outcomes }) => ({ backend, ...Object.fromEntries(outcomes) })),
      );
      for (const { outcomes, sinceCut } of results) {
        const body = outcomes.get("body")!, connect = outcomes.get("connect")!;
        assert.ok(body.httpTimeout && body.phase === "body", say);
        assert.equal(body.deadline, BODY_IDLE_SECONDS, say);
        assert.ok(body.seconds >= BODY_IDLE_SECONDS - 0.05, say); // never early
        assert.ok(body.seconds <= BODY_IDLE_SECONDS + MARGIN_SECONDS, say);
        assert.ok(connect.httpTimeout && connect.phase === "connect", say);
        assert.equal(connect.deadline, CONNECT_SECONDS, say);
        assert.ok(connect.seconds >= CONNECT_SECONDS - 0.05, say);
        assert.ok(connect.seconds <= CONNECT_SECONDS + MARGIN_SECONDS, say);
        // No hang: both ended within the body's deadline of the cut (plus the bytes
        // already queued to the client, read at once).
        assert.ok(sinceCut <= BODY_IDLE_SECONDS + 2 * MARGIN_SECONDS, say);
      }
      for (const [i, { child }] of fetchers.entries()) {
        await writers[i].close();
        assert.equal((await child.status).code, 0, say);
      }
    }, () => [
      () => clearTimeout(deadline),
      ...children.map((child) => () => killNow(child)),
      ...children.map((child) => () => child.status),
      ...outputs.map((lines) => () => lines.cancel()),
      // The router forwards again, even if its namespace outlives this run.
      ...qdiscs.map((link) => () =>
        run("ip", "netns", "exec", router, "tc", "qdisc", "del", "dev", link, "root")
      ),
      // Deleting a namespace deletes its ends of the veth pairs, and with them the other ends.
      ...created.map((namespace) => () => run("ip", "netns", "del", namespace)),
    ]);
  },
});
