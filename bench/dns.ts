/**
 * DNS: cached lookups/s of our resolver against the per-lookup cost of Deno.resolveDns
 * and node:dns (neither caches), and uncached lookups of all three against a local BIND
 * (tests/proto/dns/_named.ts), sequential and 50 at a time.
 *
 * `deno task bench:dns [--quick]`
 */
import { Resolver as NodeResolver } from "node:dns/promises";
import { spawn } from "../mod.ts";
import { DnsResolver } from "../proto/dns/mod.ts";
import { namedAvailable, startNamed } from "../tests/proto/dns/_named.ts";
import { progressRows, type Row, table } from "./_report.ts";

if (!namedAvailable()) {
  console.error("bench:dns needs /usr/sbin/named (apt-get install bind9)");
  Deno.exit(1);
}
const quick = Deno.args.includes("--quick");
const named = await startNamed();
const port = named.ports["127.0.0.2"];
const NAME = "www.test";
const cachedCount = quick ? 200_000 : 2_000_000;
const uncachedCount = quick ? 1000 : 5000;

async function timeIt(count: number, fn: () => Promise<unknown>, concurrency = 1): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < count) await fn();
  }));
  return count / ((performance.now() - t0) / 1000);
}

const rows: Row[] = progressRows();
await spawn(async () => {
  const ours = new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${port}`] });
  await ours.resolve4(NAME);
  // Cached: the lookup a server does on every connect.
  const t0 = performance.now();
  for (let i = 0; i < cachedCount; i++) await ours.resolve4(NAME);
  const cached = cachedCount / ((performance.now() - t0) / 1000);
  rows.push({ name: "ours, cached", "lookups/s": Math.round(cached), note: "goal >= 1,000,000/s" });
  // Uncached: every lookup goes to the server.
  const uncachedSeq = await (async () => {
    const t = performance.now();
    for (let i = 0; i < uncachedCount; i++) {
      ours.cache.clear();
      await ours.resolve4(NAME);
    }
    return uncachedCount / ((performance.now() - t) / 1000);
  })();
  rows.push({
    name: "ours, uncached, one at a time",
    "lookups/s": Math.round(uncachedSeq),
    note: "",
  });
  const threads = [];
  let done = 0;
  const t1 = performance.now();
  for (let w = 0; w < 50; w++) {
    threads.push(spawn(async () => {
      const own = new DnsResolver({
        mode: "stub",
        nameservers: [`127.0.0.1:${port}`],
        cacheSize: 1,
      });
      while (done++ < uncachedCount) {
        own.cache.clear();
        await own.resolve4(NAME);
      }
    }));
  }
  for (const t of threads) await t.join();
  rows.push({
    name: "ours, uncached, 50 at a time",
    "lookups/s": Math.round(uncachedCount / ((performance.now() - t1) / 1000)),
    note: "",
  });
}).join();

const denoOptions = { nameServer: { ipAddr: "127.0.0.1", port } };
rows.push({
  name: "Deno.resolveDns, one at a time",
  "lookups/s": Math.round(
    await timeIt(uncachedCount, () => Deno.resolveDns(NAME, "A", denoOptions)),
  ),
  note: "no cache",
});
rows.push({
  name: "Deno.resolveDns, 50 at a time",
  "lookups/s": Math.round(
    await timeIt(uncachedCount, () => Deno.resolveDns(NAME, "A", denoOptions), 50),
  ),
  note: "",
});
const node = new NodeResolver();
node.setServers([`127.0.0.1:${port}`]);
rows.push({
  name: "node:dns Resolver, one at a time",
  "lookups/s": Math.round(await timeIt(uncachedCount, () => node.resolve4(NAME))),
  note: "no cache",
});
rows.push({
  name: "node:dns Resolver, 50 at a time",
  "lookups/s": Math.round(await timeIt(uncachedCount, () => node.resolve4(NAME), 50)),
  note: "",
});
await named.stop();
table("DNS lookups of an A record (BIND on loopback for the uncached ones)", rows);
