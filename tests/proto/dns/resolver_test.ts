/** The resolver against real servers: three BIND instances on loopback (see _named.ts). */
import { withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { connectTo, listenOn, spawn, TimeoutError, udpSocket, withTimeout } from "../../../mod.ts";
import {
  DnsResolver,
  NameNotFoundError,
  reverseName,
  ServerFailureError,
} from "../../../proto/dns/mod.ts";
import { type Named, namedAvailable, startNamed } from "./_named.ts";

const servers = await withServer(
  "BIND (named)",
  namedAvailable(),
  "apt-get install bind9",
  startNamed,
);
const dnsTest = servers.test;

function iterative(n: Named): DnsResolver {
  return new DnsResolver({ rootHints: ["127.0.0.1"], addressMap: n.addressMap, timeout: 2 });
}

dnsTest("iterative: an address from the root down, through two delegations", async (n) => {
  const dns = iterative(n);
  assert.deepEqual([...await dns.resolve4("www.test")].sort(), ["127.0.0.10", "127.0.0.11"]);
  assert.deepEqual(await dns.resolve4("deep.sub.test"), ["127.0.0.30"]);
  assert.deepEqual(await dns.resolve6("www.test"), ["2001:db8::10"]);
  assert.equal(await dns.lookup("deep.sub.test"), "127.0.0.30");
});

dnsTest("CNAMEs are followed; dangling ones are NXDOMAIN; BIND refuses loops", async (n) => {
  const dns = iterative(n);
  const records = await dns.resolve("chain.test", "A");
  assert.deepEqual(records.map((r) => r.data).sort(), ["127.0.0.10", "127.0.0.11"]);
  assert.ok(records.every((r) => r.name === "www.test"));
  await assert.rejects(dns.resolve4("loop1.test"), ServerFailureError); // BIND: SERVFAIL
  await assert.rejects(dns.resolve4("dangling.test"), NameNotFoundError);
});

dnsTest("NXDOMAIN and NODATA are cached from the SOA: no second query", async (n) => {
  const dns = iterative(n);
  await assert.rejects(dns.resolve4("nowhere.test"), NameNotFoundError);
  const sent = dns.queriesSent;
  await assert.rejects(dns.resolve4("nowhere.test"), NameNotFoundError);
  assert.deepEqual(await dns.resolve6("short.test"), []);
  const afterNodata = dns.queriesSent;
  assert.deepEqual(await dns.resolve6("short.test"), []);
  assert.equal(dns.queriesSent, afterNodata);
  assert.ok(sent > 0 && afterNodata > sent);
});

dnsTest("a glueless delegation is resolved the long way", async (n) => {
  const dns = iterative(n);
  assert.deepEqual(await dns.resolve4("far.glueless.test"), ["127.0.0.40"]);
});

dnsTest("a lame delegation is a ServerFailureError that says so", async (n) => {
  const dns = iterative(n);
  await assert.rejects(
    dns.resolve4("x.lame.test"),
    (e: unknown) => e instanceof ServerFailureError && /lame/.test(e.message),
  );
});

dnsTest("a truncated UDP answer is asked again over TCP", async (n) => {
  const dns = iterative(n);
  const txt = await dns.resolve("big.test", "TXT");
  assert.equal(txt.length, 30);
});

dnsTest("stub mode asks a server directly; reverse lookups", async (n) => {
  const dns = new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${n.ports["127.0.0.2"]}`] });
  assert.deepEqual([...await dns.resolve4("www.test")].sort(), ["127.0.0.10", "127.0.0.11"]);
  assert.deepEqual(await dns.reverse("127.0.0.10"), ["www.test"]);
  assert.equal(reverseName("::1"), "1" + ".0".repeat(31) + ".ip6.arpa");
  const mx = await dns.resolve("mail.test", "MX");
  assert.deepEqual(mx[0].data, { preference: 10, exchange: "www.test" });
});

dnsTest("concurrent identical lookups share one query", async (n) => {
  const dns = iterative(n);
  await dns.resolve4("www.test"); // the delegations are cached now
  dns.cache.clear();
  const before = dns.queriesSent;
  const threads = Array.from({ length: 20 }, () => spawn(() => dns.resolve4("deep.sub.test")));
  for (const t of threads) assert.deepEqual(await t.join(), ["127.0.0.30"]);
  const one = dns.queriesSent - before;
  assert.ok(one <= 3, `${one} queries for 20 identical lookups`);
});

dnsTest("installed, it is what connectTo uses for names", async (n) => {
  const dns = iterative(n);
  const server = listenOn("127.0.0.30:0");
  const { port } = server.localAddress() as { port: number };
  const old = dns.install();
  try {
    const client = await connectTo(`deep.sub.test:${port}`);
    const [conn] = await withTimeout(2, () => server.accept());
    assert.equal(conn.remoteAddress().family, "ipv4");
    client.close();
    conn.close();
    await assert.rejects(connectTo(`nowhere.test:${port}`), /ENOTFOUND/);
  } finally {
    (await import("../../../net/resolver.ts")).setResolver(old);
    server.close();
  }
});

dnsTest("a server that never answers: the lookup is interruptible by withTimeout", async () => {
  const blackHole = udpSocket();
  blackHole.bind("127.0.0.1:0");
  const { port } = blackHole.localAddress() as { port: number };
  const dns = new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${port}`], timeout: 5 });
  await assert.rejects(withTimeout(0.1, () => dns.resolve4("www.test")), TimeoutError);
  const quick = new DnsResolver({
    mode: "stub",
    nameservers: [`127.0.0.1:${port}`],
    timeout: 0.05,
    attempts: 2,
  });
  await assert.rejects(quick.resolve4("www.test"), ServerFailureError);
  blackHole.close();
});

servers.finish();
