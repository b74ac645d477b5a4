/**
 * ICMP port-unreachable per socket backend. FFI: the query socket is connected, the kernel
 * reports the ICMP error as ECONNREFUSED, and the resolver counts the server failed at once.
 * Portable (Deno): Deno 2.9's UDP sockets cannot be connected and Linux reports ICMP errors
 * only to connected sockets (or with IP_RECVERR, which Deno does not set), so nothing is
 * seen: the query costs its timeout, and the resolver says so once, with the fix.
 */
import assert from "node:assert/strict";
import { type InetAddress, TimeoutError, udpSocket, withTimeout } from "../../../mod.ts";
import {
  DnsResolver,
  loadDnsCodec,
  ServerFailureError,
  ServerUnreachableError,
} from "../../../proto/dns/mod.ts";
import { socketTest } from "../../net/_backends.ts";

await loadDnsCodec();

/** A loopback UDP port nobody listens on: the kernel answers with an ICMP port-unreachable. */
function closedPort(): InetAddress {
  const socket = udpSocket();
  socket.bind("127.0.0.1:0");
  const address = socket.localAddress() as InetAddress;
  socket.close();
  return address;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await fn();
  return [result, (performance.now() - started) / 1000];
}

socketTest("FFI: a port-unreachable nameserver is a failure at once, counted", async () => {
  const closed = closedPort();
  const dns = new DnsResolver({
    mode: "forward",
    nameservers: [`127.0.0.1:${closed.port}`],
    timeout: 2,
    attempts: 1,
  });
  const [error, seconds] = await timed(() => dns.resolve4("a.test").then(() => null, (e) => e));
  assert.ok(error instanceof ServerFailureError, String(error));
  assert.match(error.message, /port unreachable/);
  assert.ok(seconds < 0.5, `${seconds} s: the timeout was paid`);
  const state = dns.selection.state(closed)!;
  assert.equal(state.failures, 1);
  assert.ok(state.downUntil > Date.now(), "the server is not skipped");
}, { only: "ffi" });

socketTest("Deno 2.9's UDP sockets see no ICMP error: sends succeed, receives wait", async () => {
  const socket = udpSocket();
  try {
    socket.bind("127.0.0.1:0");
    const closed = closedPort();
    for (let i = 0; i < 3; i++) await socket.sendTo(new Uint8Array([i]), closed);
    // Were ICMP errors visible, this receive would throw ECONNREFUSED at once.
    await assert.rejects(withTimeout(0.3, () => socket.recvFrom(512)), TimeoutError);
  } finally {
    socket.close();
  }
}, { only: "deno" });

socketTest(
  "portable backend: a port-unreachable nameserver costs the timeout, said once",
  async () => {
    const said: string[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => said.push(args.join(" "));
    try {
      for (const name of ["b.test", "c.test"]) {
        const closed = closedPort();
        const dns = new DnsResolver({
          mode: "forward",
          nameservers: [`127.0.0.1:${closed.port}`],
          timeout: 0.3,
          attempts: 1,
        });
        const [failure, seconds] = await timed(() => dns.resolve4(name).then(() => null, (e) => e));
        assert.ok(failure instanceof ServerFailureError, String(failure));
        assert.ok(!(failure instanceof ServerUnreachableError));
        assert.match(failure.message, /no answer/);
        assert.ok(seconds >= 0.29, `${seconds} s`);
        assert.equal(dns.selection.state(closed)!.failures, 1); // the timeout still counts
      }
    } finally {
      console.error = error;
    }
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(said[0], /ICMP port-unreachable is not seen.*Fix: the FFI backend/);
  },
  { only: "deno" },
);
