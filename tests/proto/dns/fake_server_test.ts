/**
 * The resolver against a fake server that lies, spoofs and sends garbage: clear errors,
 * never a hang, nothing poisoned.
 */
import assert from "node:assert/strict";
import { type InetAddress, spawn, type Thread, udpSocket } from "../../../mod.ts";
import {
  decodeMessage,
  type DnsMessage,
  DnsResolver,
  encodeResponse,
  exchange,
  loadDnsCodec,
  MalformedPacketError,
  ResolutionLimitError,
} from "../../../proto/dns/mod.ts";
import { inThread, prng } from "../../_helpers.ts";

await loadDnsCodec();

/** A UDP server answering each query with the datagrams `reply` makes. */
function fakeServer(
  reply: (query: DnsMessage, raw: Uint8Array) => Uint8Array[],
): { address: InetAddress; thread: Thread; close(): void } {
  const socket = udpSocket();
  socket.bind("127.0.0.1:0");
  const address = socket.localAddress() as InetAddress;
  const thread = spawn({ name: "fake dns" }, async () => {
    for (;;) {
      const [data, from] = await socket.recvFrom(4096).catch(() => [null, null] as const);
      if (data === null) return;
      for (const out of reply(decodeMessage(data), data)) await socket.sendTo(out, from!);
    }
  });
  return { address, thread, close: () => socket.close() };
}

const answerFor = (
  q: DnsMessage,
  answers: { name: string; type: string; ttl: number; data: unknown }[],
) =>
  encodeResponse({
    id: q.id,
    authoritative: true,
    questions: [{ name: q.questions[0].name, type: q.questions[0].type }],
    answers,
  });

Deno.test("garbage replies: a MalformedPacketError once the time is up, never a hang", () =>
  inThread(async () => {
    const random = prng(12);
    const fake = fakeServer(() => [
      Uint8Array.from({ length: 5 }, () => Math.floor(random() * 256)), // shorter than a header
      Uint8Array.from({ length: 60 }, () => Math.floor(random() * 256)),
    ]);
    try {
      await assert.rejects(
        exchange(fake.address, "a.test", "A", { timeout: 0.1 }),
        MalformedPacketError,
      );
    } finally {
      fake.close();
    }
  }));

Deno.test("a spoofed reply (wrong id, wrong question) is ignored; the real one is taken", () =>
  inThread(async () => {
    const fake = fakeServer((q) => [
      encodeResponse({
        id: (q.id + 1) & 0xffff,
        questions: [{ name: "a.test", type: "A" }],
        answers: [{ name: "a.test", type: "A", ttl: 60, data: "6.6.6.6" }],
      }),
      encodeResponse({
        id: q.id,
        questions: [{ name: "b.test", type: "A" }],
        answers: [{ name: "b.test", type: "A", ttl: 60, data: "6.6.6.7" }],
      }),
      answerFor(q, [{ name: "a.test", type: "A", ttl: 60, data: "10.1.1.1" }]),
    ]);
    try {
      const message = await exchange(fake.address, "a.test", "A", { timeout: 1 });
      assert.deepEqual(message.answers.map((r) => r.data), ["10.1.1.1"]);
    } finally {
      fake.close();
    }
  }));

Deno.test("records outside the question's CNAME chain are not cached (no poisoning)", () =>
  inThread(async () => {
    const fake = fakeServer((q) => [
      answerFor(q, [
        { name: "a.test", type: "A", ttl: 60, data: "10.1.1.1" },
        { name: "bank.example", type: "A", ttl: 60, data: "6.6.6.6" }, // unasked-for
      ]),
    ]);
    const dns = new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${fake.address.port}`] });
    try {
      assert.deepEqual(await dns.resolve4("a.test"), ["10.1.1.1"]);
      assert.equal(dns.cache.get("bank.example", "A"), undefined);
    } finally {
      fake.close();
    }
  }));

Deno.test("out-of-bailiwick glue in a referral is not used or cached", () =>
  inThread(async () => {
    // A "root" that delegates "test." to ns.test with in-bailiwick glue... and also sends
    // glue for a name of another zone, which must be dropped.
    let asked = 0;
    const child = fakeServer((q) => {
      asked++;
      return [answerFor(q, [{ name: q.questions[0].name, type: "A", ttl: 60, data: "10.9.9.9" }])];
    });
    const root = fakeServer((q) => [encodeResponse({
      id: q.id,
      questions: [{ name: q.questions[0].name, type: q.questions[0].type }],
      authorities: [{ name: "test", type: "NS", ttl: 60, data: "ns.test" }],
      additionals: [
        { name: "ns.test", type: "A", ttl: 60, data: "127.0.0.2" },
        { name: "ns.victim.example", type: "A", ttl: 60, data: "6.6.6.6" },
      ],
    })]);
    const dns = new DnsResolver({
      rootHints: ["127.0.0.1"],
      addressMap: (a) =>
        a.host === "127.0.0.1" ? root.address : a.host === "127.0.0.2" ? child.address : a,
    });
    try {
      assert.deepEqual(await dns.resolve4("www.test"), ["10.9.9.9"]);
      assert.equal(asked, 1);
      assert.equal(dns.cache.get("ns.victim.example", "A"), undefined);
      assert.equal(dns.cache.get("ns.test", "A")?.kind, "records");
    } finally {
      root.close();
      child.close();
    }
  }));

Deno.test("a CNAME loop from a server that does not catch it is a ResolutionLimitError", () =>
  inThread(async () => {
    const fake = fakeServer((q) => {
      const name = q.questions[0].name;
      return [
        answerFor(q, [{
          name,
          type: "CNAME",
          ttl: 60,
          data: name === "a.test" ? "b.test" : "a.test",
        }]),
      ];
    });
    const dns = new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${fake.address.port}`] });
    try {
      await assert.rejects(dns.resolve4("a.test"), ResolutionLimitError);
    } finally {
      fake.close();
    }
  }));

Deno.test("a referral loop (a server delegating to itself, deeper each time) hits the limit", () =>
  inThread(async () => {
    const fake = fakeServer((q) => {
      const name = q.questions[0].name;
      const labels = name.split(".");
      // Always refer one label deeper, to itself: never an answer.
      const child = labels.slice(-Math.min(labels.length, 2)).join(".");
      return [encodeResponse({
        id: q.id,
        questions: [{ name, type: "A" }],
        authorities: [{ name: child, type: "NS", ttl: 60, data: `ns.${child}` }],
        additionals: [{ name: `ns.${child}`, type: "A", ttl: 60, data: "127.0.0.1" }],
      })];
    });
    const dns = new DnsResolver({ rootHints: ["127.0.0.1"], addressMap: () => fake.address });
    try {
      await assert.rejects(
        dns.resolve4("x.y.test"),
        (e: unknown) =>
          e instanceof ResolutionLimitError || (e instanceof Error && /lame/.test(e.message)),
      );
    } finally {
      fake.close();
    }
  }));
