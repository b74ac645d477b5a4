/**
 * The standing poisoning and spoofing suite: fake authorities on loopback that lie about
 * other zones, chain CNAMEs out of their zone, send glue for names they have no say over,
 * hand out huge TTLs, and spoof ids, ports and source addresses. Every lookup is bounded by
 * a short timeout; nothing a liar says may end up in the cache or in an answer.
 */
import assert from "node:assert/strict";
import { type InetAddress, now, udpSocket } from "../../../mod.ts";
import { spawn } from "../../../core/thread.ts";
import {
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  DnsResolver,
  encodeResponse,
  exchange,
  loadDnsCodec,
  NameNotFoundError,
} from "../../../proto/dns/mod.ts";
import { socketTest } from "../../net/_backends.ts";

await loadDnsCodec(); // the fake servers encode before any query of ours loaded it

type Reply = (query: DnsMessage, from: InetAddress) => Uint8Array[] | Promise<Uint8Array[]>;

/**
 * Fake servers, one UDP socket each on 127.0.0.1, known to the resolver by made-up
 * addresses ("127.0.0.1" is the root) through `addressMap`. Each counts its queries.
 */
function fakeInternet(servers: Record<string, Reply>) {
  const sockets: ReturnType<typeof udpSocket>[] = [];
  const where = new Map<string, InetAddress>();
  const asked = new Map<string, string[]>();
  for (const [host, reply] of Object.entries(servers)) {
    const socket = udpSocket();
    socket.bind("127.0.0.1:0");
    sockets.push(socket);
    where.set(host, socket.localAddress() as InetAddress);
    asked.set(host, []);
    spawn({ name: `fake dns ${host}` }, async () => {
      for (;;) {
        let data: Uint8Array, from: InetAddress;
        try {
          [data, from] = await socket.recvFrom(4096) as [Uint8Array, InetAddress];
        } catch (e) {
          if (socket.closed) return;
          throw e;
        }
        const query = decodeMessage(data);
        asked.get(host)!.push(`${query.questions[0].name} ${query.questions[0].type}`);
        for (const out of await reply(query, from)) await socket.sendTo(out, from);
      }
    });
  }
  const resolver = (options: ConstructorParameters<typeof DnsResolver>[0] = {}) =>
    new DnsResolver({
      rootHints: ["127.0.0.1"],
      timeout: 0.5,
      attempts: 1,
      addressMap: (a) => where.get(a.host) ?? a,
      ...options,
    });
  return {
    resolver,
    asked,
    address: (host: string) => where.get(host)!,
    close: () => sockets.forEach((s) => s.close()),
  };
}

const q = (m: DnsMessage) => m.questions[0];
const a = (name: string, data: string, ttl = 300): DnsRecord => ({ name, type: "A", ttl, data });
const cname = (name: string, data: string, ttl = 300): DnsRecord => ({
  name,
  type: "CNAME",
  ttl,
  data,
});
const soa = (zone: string, ttl: number, minimum: number): DnsRecord => ({
  name: zone,
  type: "SOA",
  ttl,
  data: {
    mname: `ns.${zone}`,
    rname: `admin.${zone}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum,
  },
});

function answer(query: DnsMessage, answers: DnsRecord[], extra: Partial<{
  rcode: string;
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}> = {}): Uint8Array {
  return encodeResponse({
    id: query.id,
    authoritative: true,
    questions: [{ name: q(query).name, type: q(query).type }],
    answers,
    ...extra,
  });
}

/** A root that delegates each of `zones` (zone -> made-up server address) with glue. */
function root(zones: Record<string, string>): Reply {
  return (query) => {
    const name = q(query).name.toLowerCase();
    const zone = Object.keys(zones).find((z) => name === z || name.endsWith(`.${z}`));
    if (zone === undefined) return [answer(query, [], { rcode: "NXDOMAIN" })];
    return [encodeResponse({
      id: query.id,
      questions: [{ name: q(query).name, type: q(query).type }],
      authorities: [{ name: zone, type: "NS", ttl: 3600, data: `ns.${zone}` }],
      additionals: [a(`ns.${zone}`, zones[zone], 3600)],
    })];
  };
}

/** The honest authority for victim.example. */
const victim: Reply = (query) => {
  const { name, type } = q(query);
  if (name === "victim.example" && type === "A") {
    return [answer(query, [a("victim.example", "10.0.0.1")])];
  }
  if (name === "www.victim.example" && type === "A") {
    return [answer(query, [a("www.victim.example", "10.0.0.2")])];
  }
  return [answer(query, [], { authorities: [soa("victim.example", 300, 300)] })];
};

const zones = { "evil.test": "127.0.0.2", "victim.example": "127.0.0.3" };

socketTest(
  "a CNAME out of the answering zone: its target is asked from its own authority",
  async () => {
    const net = fakeInternet({
      "127.0.0.1": root(zones),
      "127.0.0.2": (query) => [answer(query, [
        cname("www.evil.test", "victim.example", 86400),
        a("victim.example", "6.6.6.6", 86400), // the poison
      ])],
      "127.0.0.3": victim,
    });
    try {
      const dns = net.resolver();
      const records = await dns.resolve("www.evil.test", "A");
      assert.deepEqual(records.map((r) => [r.name, r.data]), [["victim.example", "10.0.0.1"]]);
      assert.deepEqual(await dns.resolve4("victim.example"), ["10.0.0.1"]);
      assert.deepEqual(net.asked.get("127.0.0.3"), ["victim.example A"]);
    } finally {
      net.close();
    }
  },
);

socketTest("records of other zones in an answer are neither used nor cached", async () => {
  const net = fakeInternet({
    "127.0.0.1": root(zones),
    "127.0.0.2": (query) => [answer(query, [
      a("www.evil.test", "10.6.6.6"),
      a("www.victim.example", "6.6.6.6", 86400),
      { name: "victim.example", type: "NS", ttl: 86400, data: "ns.evil.test" },
    ], {
      authorities: [{ name: "victim.example", type: "NS", ttl: 86400, data: "ns.evil.test" }],
      additionals: [a("ns.victim.example", "6.6.6.6", 86400)],
    })],
    "127.0.0.3": victim,
  });
  try {
    const dns = net.resolver();
    assert.deepEqual(await dns.resolve4("www.evil.test"), ["10.6.6.6"]);
    assert.equal(dns.cache.get("www.victim.example", "A"), undefined);
    assert.equal(dns.cache.get("victim.example", "NS"), undefined);
    assert.equal(dns.cache.get("ns.victim.example", "A"), undefined);
    assert.deepEqual(await dns.resolve4("www.victim.example"), ["10.0.0.2"]);
  } finally {
    net.close();
  }
});

socketTest("NXDOMAIN after a CNAME out of zone does not deny the target's name", async () => {
  const net = fakeInternet({
    "127.0.0.1": root(zones),
    "127.0.0.2": (query) => [answer(query, [cname("www.evil.test", "victim.example")], {
      rcode: "NXDOMAIN",
      authorities: [soa("victim.example", 10800, 10800)],
    })],
    "127.0.0.3": victim,
  });
  try {
    const dns = net.resolver();
    assert.deepEqual(await dns.resolve4("www.evil.test"), ["10.0.0.1"]);
    assert.deepEqual(await dns.resolve4("victim.example"), ["10.0.0.1"]);
  } finally {
    net.close();
  }
});

socketTest(
  "a CNAME chain inside the zone is used; where it leaves the zone, it is re-asked",
  async () => {
    const net = fakeInternet({
      "127.0.0.1": root(zones),
      "127.0.0.2": (query) => [answer(query, [
        cname("a.evil.test", "b.evil.test"),
        cname("b.evil.test", "www.victim.example"),
        cname("www.victim.example", "evil.test"), // out of zone: must not be believed
        a("evil.test", "6.6.6.6"),
      ])],
      "127.0.0.3": victim,
    });
    try {
      const dns = net.resolver();
      assert.deepEqual(await dns.resolve4("a.evil.test"), ["10.0.0.2"]);
      assert.equal(dns.cache.get("www.victim.example", "CNAME"), undefined);
      assert.equal(dns.cache.get("b.evil.test", "CNAME")?.kind, "records");
    } finally {
      net.close();
    }
  },
);

socketTest(
  "glue for names outside the referring zone is dropped; the NS is looked up",
  async () => {
    const net = fakeInternet({
      "127.0.0.1": root({ "test": "127.0.0.4", "victim.example": "127.0.0.3" }),
      // The server for "test" delegates sub.test to a server named in victim.example,
      // offering "glue" for it: it has no say over that name.
      "127.0.0.4": (query) => [encodeResponse({
        id: query.id,
        questions: [q(query)],
        authorities: [{ name: "sub.test", type: "NS", ttl: 3600, data: "www.victim.example" }],
        additionals: [a("www.victim.example", "127.0.0.6", 86400)],
      })],
      "127.0.0.3": victim,
      "127.0.0.2": (query) => [answer(query, [a(q(query).name, "10.2.2.2")])], // 10.0.0.2's stand-in
    });
    try {
      // www.victim.example really is 10.0.0.2: map it to the server at "127.0.0.2".
      const dns = net.resolver({
        addressMap: (x) => net.address(x.host === "10.0.0.2" ? "127.0.0.2" : x.host) ?? x,
      });
      assert.deepEqual(await dns.resolve4("host.sub.test"), ["10.2.2.2"]);
      assert.deepEqual(await dns.resolve4("www.victim.example"), ["10.0.0.2"]);
      assert.deepEqual(net.asked.get("127.0.0.3"), ["www.victim.example A"]);
    } finally {
      net.close();
    }
  },
);

socketTest("a referral out of the server's zone, or above it, is lame and not cached", async () => {
  const net = fakeInternet({
    "127.0.0.1": root(zones),
    "127.0.0.2": (query) => [encodeResponse({
      id: query.id,
      questions: [q(query)],
      authorities: [{ name: "test", type: "NS", ttl: 86400, data: "ns.evil.test" }],
      additionals: [a("ns.evil.test", "127.0.0.2", 86400)],
    })],
  });
  try {
    const dns = net.resolver();
    await assert.rejects(dns.resolve4("www.evil.test"), /lame/);
    assert.equal(dns.cache.get("test", "NS"), undefined);
  } finally {
    net.close();
  }
});

socketTest(
  "TTLs: top bit set is 0 (not cached), others capped at 7 days, negative at 3 hours",
  async () => {
    const net = fakeInternet({
      "127.0.0.1": root({ "ttl.test": "127.0.0.2" }),
      "127.0.0.2": (query) => {
        const { name } = q(query);
        if (name === "huge.ttl.test") return [answer(query, [a(name, "10.0.0.1", 0xffffffff)])];
        if (name === "long.ttl.test") return [answer(query, [a(name, "10.0.0.2", 0x7fffffff)])];
        return [answer(query, [], {
          rcode: "NXDOMAIN",
          authorities: [soa("ttl.test", 0x7fffffff, 0x7fffffff)],
        })];
      },
    });
    try {
      const dns = net.resolver();
      assert.deepEqual(await dns.resolve4("huge.ttl.test"), ["10.0.0.1"]);
      assert.equal(dns.cache.get("huge.ttl.test", "A"), undefined, "TTL 2^32-1 means 0");
      assert.deepEqual(await dns.resolve4("huge.ttl.test"), ["10.0.0.1"]); // asked again
      assert.equal(net.asked.get("127.0.0.2")!.filter((x) => x === "huge.ttl.test A").length, 2);

      const [record] = await dns.resolve("long.ttl.test", "A");
      assert.equal(record.ttl, 7 * 86400);
      const entry = dns.cache.get("long.ttl.test", "A")!;
      assert.ok(entry.expires - now() <= 7 * 86400 && entry.expires - now() > 7 * 86400 - 60);

      await assert.rejects(dns.resolve4("gone.ttl.test"), NameNotFoundError);
      const negative = dns.cache.get("gone.ttl.test", "A")!;
      assert.equal(negative.kind, "nxdomain");
      assert.ok(negative.expires - now() <= 3 * 3600 && negative.expires - now() > 3 * 3600 - 60);

      const tight = net.resolver({ maxTtl: 60, maxNegativeTtl: 5 });
      await tight.resolve4("long.ttl.test");
      assert.ok(tight.cache.get("long.ttl.test", "A")!.expires - now() <= 60);
      await assert.rejects(tight.resolve4("gone.ttl.test"), NameNotFoundError);
      assert.ok(tight.cache.get("gone.ttl.test", "A")!.expires - now() <= 5);
    } finally {
      net.close();
    }
  },
);

socketTest("spoofed replies: another port, another address, not a response, wrong id", async () => {
  const spoofPort = udpSocket();
  spoofPort.bind("127.0.0.1:0");
  const spoofAddress = udpSocket();
  spoofAddress.bind("127.0.0.2:0"); // loopback is all of 127/8
  const forged = (query: DnsMessage, id = query.id) =>
    encodeResponse({
      id,
      questions: [q(query)],
      answers: [a(q(query).name, "6.6.6.6", 86400)],
    });
  const net = fakeInternet({
    "127.0.0.1": async (query, from) => {
      // Every forgery arrives before the real answer, at the resolver's real port.
      await spoofPort.sendTo(forged(query), from);
      await spoofAddress.sendTo(forged(query), from);
      const notResponse = forged(query);
      notResponse[2] &= 0x7f; // QR off: a query, not an answer
      // 50, not hundreds: a socket's receive buffer holds ~200 small datagrams, and a
      // kernel that drops the real answer for want of room would test the buffer, not us.
      const wrongIds = Array.from({ length: 50 }, (_, i) => forged(query, query.id ^ (i + 1)));
      return [notResponse, ...wrongIds, answer(query, [a(q(query).name, "10.1.1.1")])];
    },
  });
  try {
    const message = await exchange(net.address("127.0.0.1"), "spoof.test", "A", { timeout: 2 });
    assert.deepEqual(message.answers.map((r) => r.data), ["10.1.1.1"]);
    const dns = net.resolver({ mode: "stub", nameservers: ["127.0.0.1"], timeout: 2 });
    assert.deepEqual(await dns.resolve4("spoof.test"), ["10.1.1.1"]);
  } finally {
    net.close();
    spoofPort.close();
    spoofAddress.close();
  }
});

socketTest(
  "a flood of forged answers until the timeout: a ServerFailureError, nothing cached",
  async () => {
    const net = fakeInternet({
      "127.0.0.1": (query) =>
        Array.from({ length: 500 }, (_, i) =>
          encodeResponse({
            id: query.id ^ (1 + (i % 0xfffe)),
            questions: [q(query)],
            answers: [a(q(query).name, "6.6.6.6", 86400)],
          })),
    });
    try {
      const dns = net.resolver({ mode: "stub", nameservers: ["127.0.0.1"], timeout: 0.2 });
      await assert.rejects(dns.resolve4("flood.test"), /no answer/);
      assert.equal(dns.cache.get("flood.test", "A"), undefined);
    } finally {
      net.close();
    }
  },
);

socketTest("a TTL of 0 is used for its lookup and never cached", async () => {
  const net = fakeInternet({
    "127.0.0.1": root({ "zero.test": "127.0.0.2" }),
    "127.0.0.2": (query) => [answer(query, [a(q(query).name, "10.0.0.9", 0)])],
  });
  try {
    const dns = net.resolver();
    assert.deepEqual(await dns.resolve4("now.zero.test"), ["10.0.0.9"]);
    assert.deepEqual(await dns.resolve4("now.zero.test"), ["10.0.0.9"]);
    assert.equal(net.asked.get("127.0.0.2")!.length, 2);
  } finally {
    net.close();
  }
});
