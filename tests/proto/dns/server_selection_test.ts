/**
 * Server selection under faults, against fake servers on loopback: a dead forwarder costs
 * one timeout, not one per lookup; an unreachable port fails at once; every server dead
 * fails at the lookup deadline.
 */
import assert from "node:assert/strict";
import { type InetAddress, spawn, udpSocket } from "../../../mod.ts";
import {
  decodeMessage,
  DnsResolver,
  encodeResponse,
  loadDnsCodec,
  ServerFailureError,
  ServerSelection,
} from "../../../proto/dns/mod.ts";
import { socketTest } from "../../net/_backends.ts";

await loadDnsCodec();

/** A server answering every A query with 10.0.0.1; counts the queries. */
function liveServer(): { address: string; queries: () => number; close(): void } {
  const socket = udpSocket();
  socket.bind("127.0.0.1:0");
  const address = socket.localAddress() as InetAddress;
  let queries = 0;
  spawn({ name: "live dns" }, async () => {
    for (;;) {
      const [data, from] = await socket.recvFrom(4096).catch(() => [null, null] as const);
      if (data === null) return;
      queries++;
      const q = decodeMessage(data);
      await socket.sendTo(
        encodeResponse({
          id: q.id,
          authoritative: true,
          questions: q.questions,
          answers: [{ name: q.questions[0].name, type: "A", ttl: 60, data: "10.0.0.1" }],
        }),
        from!,
      );
    }
  });
  return {
    address: `127.0.0.1:${address.port}`,
    queries: () => queries,
    close: () => socket.close(),
  };
}

/** A server that takes queries and never answers (a frozen or partitioned one). */
function silentServer(): { address: string; close(): void } {
  const socket = udpSocket();
  socket.bind("127.0.0.1:0");
  return {
    address: `127.0.0.1:${(socket.localAddress() as InetAddress).port}`,
    close: () => socket.close(),
  };
}

/** A port nobody listens on: the kernel answers with an ICMP port-unreachable. */
function closedPort(): string {
  const socket = udpSocket();
  socket.bind("127.0.0.1:0");
  const port = (socket.localAddress() as InetAddress).port;
  socket.close();
  return `127.0.0.1:${port}`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await fn();
  return [result, (performance.now() - started) / 1000];
}

socketTest("first of two forwarders silent: only the first lookup pays the timeout", async () => {
  const dead = silentServer();
  const live = liveServer();
  try {
    const dns = new DnsResolver({
      mode: "forward",
      nameservers: [dead.address, live.address],
      timeout: 0.5,
    });
    const [first, firstSeconds] = await timed(() => dns.resolve4("a0.test"));
    assert.deepEqual(first, ["10.0.0.1"]);
    assert.ok(firstSeconds >= 0.45, `first lookup took ${firstSeconds} s`);
    for (let i = 1; i <= 10; i++) {
      const [answer, seconds] = await timed(() => dns.resolve4(`a${i}.test`));
      assert.deepEqual(answer, ["10.0.0.1"]);
      assert.ok(seconds < 0.25, `lookup ${i} took ${seconds} s: the dead server was asked again`);
    }
    assert.equal(live.queries(), 11);
    const port = Number(dead.address.split(":")[1]);
    assert.equal(dns.selection.state({ family: "ipv4", host: "127.0.0.1", port })?.failures, 1);
  } finally {
    dead.close();
    live.close();
  }
});

socketTest("a failed server is probed again once its penalty runs out", async () => {
  const dead = silentServer();
  const live = liveServer();
  try {
    const dns = new DnsResolver({
      mode: "forward",
      nameservers: [dead.address, live.address],
      timeout: 0.3,
      serverRetryAfter: 0.5,
    });
    await dns.resolve4("b0.test"); // pays 0.3 s
    const [, fast] = await timed(() => dns.resolve4("b1.test"));
    assert.ok(fast < 0.2, `${fast} s`);
    await new Promise((r) => setTimeout(r, 600));
    const [, probe] = await timed(() => dns.resolve4("b2.test")); // probes the dead one
    assert.ok(probe >= 0.25, `${probe} s: the dead server was not probed`);
    const [, after] = await timed(() => dns.resolve4("b3.test")); // skipped twice as long
    assert.ok(after < 0.2, `${after} s`);
  } finally {
    dead.close();
    live.close();
  }
});

socketTest("a port-unreachable server fails at once (ICMP counted)", async () => {
  const live = liveServer();
  try {
    const alone = new DnsResolver({ mode: "forward", nameservers: [closedPort()], timeout: 2 });
    const [error, seconds] = await timed(() => alone.resolve4("c.test").then(() => null, (e) => e));
    assert.ok(error instanceof ServerFailureError, String(error));
    assert.match(error.message, /unreachable/);
    assert.ok(seconds < 0.5, `${seconds} s`);

    const dns = new DnsResolver({
      mode: "forward",
      nameservers: [closedPort(), live.address],
      timeout: 2,
    });
    const [answer, first] = await timed(() => dns.resolve4("c0.test"));
    assert.deepEqual(answer, ["10.0.0.1"]);
    assert.ok(first < 0.5, `first lookup took ${first} s`);
  } finally {
    live.close();
  }
}, { only: "ffi" }); // Deno's UDP sockets cannot connect, so they never see ICMP errors

socketTest(
  "both forwarders silent: the lookup deadline, not attempts x servers x timeout",
  async () => {
    const a = silentServer();
    const b = silentServer();
    try {
      const dns = new DnsResolver({
        mode: "forward",
        nameservers: [a.address, b.address],
        timeout: 2,
        lookupTimeout: 1,
      });
      const [error, seconds] = await timed(() => dns.resolve4("d.test").then(() => null, (e) => e));
      assert.ok(error instanceof ServerFailureError, String(error));
      assert.match(error.message, /lookupTimeout 1 s/);
      assert.ok(seconds >= 0.9 && seconds < 1.5, `${seconds} s`);
    } finally {
      a.close();
      b.close();
    }
  },
);

socketTest("both forwarders silent, default options: fails at the 5 s default", async () => {
  const a = silentServer();
  const b = silentServer();
  try {
    const dns = new DnsResolver({ mode: "forward", nameservers: [a.address, b.address] });
    const [error, seconds] = await timed(() => dns.resolve4("e.test").then(() => null, (e) => e));
    assert.ok(error instanceof ServerFailureError, String(error));
    assert.ok(seconds >= 4.9 && seconds < 5.8, `${seconds} s (12 s before the deadline)`);
  } finally {
    a.close();
    b.close();
  }
}, { only: "ffi" });

Deno.test("ServerSelection: fastest first, unknown in given order, failed last", () => {
  const at = (n: number) => ({ family: "ipv4", host: `10.0.0.${n}`, port: 53 }) as const;
  const s = new ServerSelection({ retryAfter: 10 });
  s.answered(at(1), 50);
  s.answered(at(2), 5);
  s.failed(at(3), 1000);
  assert.deepEqual(s.order([at(3), at(1), at(4), at(2)], 2000), [at(4), at(2), at(1), at(3)]);
  s.answered(at(1), 1); // smoothed: 50 + 0.3 * (1 - 50) = 35.3, still slower than 5
  assert.equal(Math.round(s.state(at(1))!.srtt! * 10), 353);
  // After the penalty, a probe goes first once; a second failure doubles the penalty.
  assert.deepEqual(s.order([at(1), at(3)], 11001)[0], at(3));
  s.failed(at(3), 11001);
  assert.equal(s.state(at(3))!.downUntil, 11001 + 20000);
});
