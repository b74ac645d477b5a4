/**
 * Fuzzing the FFI boundary: random sequences of socket calls with random and hostile
 * sizes, offsets, buffers and addresses, through the FFI backend. Every call must either
 * work or fail with a typed error; under the ASan shim (`deno task test:asan`) any write
 * or read out of bounds aborts the process. Bounded: SHRAPNEL_FUZZ_SECONDS (default 2)
 * of calls; SHRAPNEL_FUZZ_SEED replays a run (the seed is in the failure message).
 */
import assert from "node:assert/strict";
import {
  ClosedError,
  EOFError,
  fdSocket,
  Interrupted,
  setResolver,
  type Socket,
  SocketError,
  socketPair,
  spawn,
  tcpSocket,
  udp6Socket,
  udpSocket,
  unixSocket,
  UnsupportedOperationError,
  waitForFdRead,
  withTimeout,
} from "../../mod.ts";
import { SimultaneousError } from "../../core/errors.ts";
import { sleep } from "../../core/sleep.ts";
import { prng } from "../_helpers.ts";
import { socketTest } from "./_backends.ts";

const seconds = Number(Deno.env.get("SHRAPNEL_FUZZ_SECONDS") ?? "2");
const seed = Number(Deno.env.get("SHRAPNEL_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** What a hostile call may end in: anything else is a bug. */
function expected(e: unknown): boolean {
  return e instanceof RangeError || e instanceof TypeError || e instanceof SocketError ||
    e instanceof ClosedError || e instanceof Interrupted || e instanceof EOFError ||
    e instanceof UnsupportedOperationError || e instanceof SimultaneousError;
}

class Liar extends Uint8Array {
  override get length(): number {
    return 1 << 24;
  }
  override get byteLength(): number {
    return 1 << 24;
  }
}

socketTest(`random calls with hostile sizes, offsets and addresses (seed ${seed})`, async () => {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const dir = await Deno.makeTempDir({ dir: "/tmp" });
  const sockets: Socket[] = [];
  const live = () => sockets.filter((s) => !s.closed);

  const hostileSize = (): number =>
    pick([
      0,
      1,
      int(70_000),
      -1,
      -100,
      1.5,
      NaN,
      Infinity,
      2 ** 31 + int(2), // (2^31-1 is valid, but 2 GB buffers are not for a shared CI machine)
      2 ** 32 - 100,
      2 ** 53,
      "12" as unknown as number,
    ]);

  /** A buffer of a random kind: views at random offsets, liars, detached, shrunk. */
  const hostileBuffer = (): Uint8Array => {
    const size = int(4096);
    switch (int(7)) {
      case 0: {
        const whole = new Uint8Array(size + 64);
        const start = int(whole.length + 1);
        return whole.subarray(start, start + int(whole.length - start + 1));
      }
      case 1:
        return new Liar(int(64));
      case 2: {
        const b = new Uint8Array(size);
        b.buffer.transfer(); // detached: length 0
        return b;
      }
      case 3: {
        const rab = new ArrayBuffer(size + 1, { maxByteLength: size + 100 });
        const view = new Uint8Array(rab);
        rab.resize(int(size + 1));
        return view;
      }
      case 4:
        return new Uint16Array(int(512)) as unknown as Uint8Array;
      case 5:
        return new Uint8Array(0);
      default:
        return new Uint8Array(size);
    }
  };

  /**
   * A unix path: always inside the test's directory (never relative, never elsewhere) unless
   * it is an abstract name (a leading NUL), and of every length around the system's limits.
   */
  const unixPath = (): string => {
    const n = pick([0, 1, 50, 103, 104, 107, 108, 109, 200]);
    const body = Array.from({ length: n }, () => pick(["a", "é", "\0", "/", "z"])).join("");
    if (body.startsWith("\0")) return body;
    return `${dir}/${body}`.slice(0, dir.length + 1 + n);
  };

  /**
   * A port: one of our own sockets' (so no datagram or connection reaches a server another
   * test runs), 0, or no port at all (out of range, fractional, not a number).
   */
  const hostilePort = (): number => {
    const own = live().map((s) => {
      try {
        const a = s.localAddress();
        return a.family === "unix" ? 0 : a.port;
      } catch {
        return 0; // closed meanwhile
      }
    });
    return pick([...own, 0, -1, 65_536, 70_000, 1.5, NaN, 2 ** 53]);
  };

  const hostileAddress = (): unknown =>
    pick([
      () => `127.0.0.1:${hostilePort()}`,
      () => `[::1]:${hostilePort()}`,
      () => ({ family: "ipv4", host: "127.0.0.1", port: hostilePort() }),
      () => ({ family: "ipv6", host: "::1", port: hostilePort(), scopeId: hostileSize() }),
      () => ({ family: "ipv4", host: "999.1.1.1", port: 1 }),
      () => ({ family: "ipv6", host: "::1::", port: 1 }),
      () => ({ family: "unix", path: unixPath() }),
      () => ({ family: "unix", path: `\0shrapnel-fuzz-${Deno.pid}-${int(4)}` }),
      () => ({ family: "bogus", host: "x", port: 1 }),
      () => `${dir}/${"x".repeat(int(300))}`,
      () => "not an address",
    ])();

  const make = async (): Promise<void> => {
    switch (int(6)) {
      case 0:
        sockets.push(...await socketPair());
        break;
      case 1:
        sockets.push(...await socketPair("datagram"));
        break;
      case 2: {
        const u = udpSocket();
        u.bind("127.0.0.1:0");
        sockets.push(u);
        break;
      }
      case 3: {
        const u = udp6Socket();
        u.bind("[::1]:0");
        sockets.push(u);
        break;
      }
      case 4: {
        const t = tcpSocket();
        t.bind("127.0.0.1:0");
        t.listen();
        sockets.push(t);
        break;
      }
      default:
        sockets.push(unixSocket(pick(["stream", "datagram"] as const)));
    }
  };

  const bounded = <T>(fn: () => Promise<T>) => withTimeout(0.01, fn);

  /** A read in a thread of its own, `meddle` done while it waits; the thread always ends. */
  const racing = async (s: Socket, meddle: () => void): Promise<void> => {
    const buffer = new Uint8Array(int(256) + 1);
    let failure: unknown = null;
    const reader = spawn(async () => {
      try {
        await s.recvInto(buffer);
      } catch (e) {
        if (!expected(e)) failure = e;
      }
    });
    await sleep(0);
    meddle();
    for (const other of live()) other.trySend(new Uint8Array(300));
    try {
      await withTimeout(0.05, () => reader.join());
    } finally {
      if (!reader.dead) reader.interrupt();
      await reader.join();
    }
    if (failure !== null) throw failure;
  };

  const operations: ((s: Socket) => unknown)[] = [
    (s) => s.tryRecvInto(hostileBuffer()),
    (s) => s.trySend(hostileBuffer()),
    (s) => bounded(() => s.recvInto(hostileBuffer())),
    (s) => bounded(() => s.send(hostileBuffer())),
    (s) => bounded(() => s.sendSome(hostileBuffer())),
    (s) => bounded(() => s.readv(Array.from({ length: pick([0, 1, 3, 64, 1025]) }, hostileSize))),
    (s) => bounded(() => s.readv([int(100), int(100), int(100)])),
    (s) => bounded(() => s.recvFrom(hostileSize())),
    (s) => bounded(() => s.sendTo(hostileBuffer(), hostileAddress() as string)),
    (s) => bounded(() => s.connect(hostileAddress() as string)),
    (s) => s.bind(hostileAddress() as string),
    (s) => s.localAddress(),
    (s) => s.remoteAddress(),
    (s) =>
      s.setOption(
        pick(["SO_RCVBUF", "SO_SNDBUF", "TCP_NODELAY", "BOGUS"]) as "SO_RCVBUF",
        hostileSize(),
      ),
    (s) => s.getOption(pick(["SO_ERROR", "SO_TYPE", "BOGUS"]) as "SO_ERROR"),
    (s) => s.shutdown(pick(["read", "write", "both", "sideways"]) as "both"),
    (s) => bounded(() => s.accept()),
    (s) => fdSocket((s as unknown as { fd: number }).fd), // owned already: EEXIST
    () => fdSocket(pick([-1, 1.5, NaN, 2 ** 31, 2 ** 32 + 3, "3" as unknown as number])),
    () => {
      const fd = hostileSize();
      if (Deno.env.get("FUZZ_TRACE")) console.error("fd", fd);
      return bounded(() => waitForFdRead(fd));
    },
    async (s) => {
      // A read waiting while its buffer is detached and data arrives.
      const buffer = new Uint8Array(int(256) + 1);
      await racing(s, () => buffer.buffer.transfer());
    },
    async (s) => {
      // A read waiting while its socket is closed.
      await racing(s, () => s.close());
    },
    (s) => s.close(),
  ];

  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  // Loopback only: names (hostile hosts that are no IP literal) resolve to nothing.
  const oldResolver = setResolver(() => Promise.resolve([]));
  try {
    while (performance.now() < deadline) {
      if (live().length < 2 || random() < 0.05) await make();
      if (live().length > 16) live()[0].close();
      const s = pick(live());
      const op = int(operations.length);
      calls++;
      if (Deno.env.get("FUZZ_TRACE")) console.error(calls, op, String(s));
      try {
        await operations[op](s);
      } catch (e) {
        if (!expected(e)) {
          throw new Error(`seed ${seed}, call ${calls} (operation ${op}): unexpected ${e}`, {
            cause: e,
          });
        }
      }
    }
  } finally {
    setResolver(oldResolver);
    for (const s of sockets) s.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(calls > 50, `only ${calls} calls in ${seconds} s`);
}, { only: "ffi" });
