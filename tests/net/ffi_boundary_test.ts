/**
 * The FFI boundary (issue 19): no input from JavaScript may corrupt memory, and no event
 * may reach the wrong descriptor. The memory cases also run under the ASan shim
 * (`deno task test:asan`), where an overflow aborts the process.
 */
import assert from "node:assert/strict";
import {
  ClosedError,
  fdSocket,
  FfiPoller,
  ffiPoller,
  listenOn,
  type Socket,
  SocketError,
  socketPair,
  spawn,
  TimeoutError,
  unixSocket,
  waitForFileChange,
  waitForProcessExit,
  withTimeout,
} from "../../mod.ts";
import { FfiSocket } from "../../net/ffi_socket.ts";
import type { Shim } from "../../ffi/shim.ts";
import { sleep } from "../../core/sleep.ts";
import { bytes, denoChildEnv, socketTest } from "./_backends.ts";

const linux = Deno.build.os === "linux";

function shim(): Shim {
  return (ffiPoller() as FfiPoller).shim;
}

/** -errno of `name` on this platform. */
function negErrno(name: string): number {
  const poller = ffiPoller() as FfiPoller;
  for (const [value, n] of poller.errnoNames) if (n === name) return -value;
  throw new Error(`no errno ${name}`);
}

socketTest("readv refuses sizes that are not byte counts, and reads on after", async () => {
  const [a, b] = await socketPair();
  try {
    for (
      const sizes of [
        [-100, 200], // wrapped to 4294967196 in a Uint32Array: the heap overflow of issue 19
        [1.5],
        [NaN],
        [2 ** 31],
        [2 ** 30, 2 ** 30, 2 ** 30], // each fine, the total not
        new Array(1025).fill(1),
        ["8" as unknown as number],
      ]
    ) {
      await assert.rejects(a.readv(sizes), RangeError, JSON.stringify(sizes.slice(0, 3)));
    }
    await b.send(bytes("abcdef"));
    const parts = await withTimeout(2, () => a.readv([2, 0, 3, 10]));
    assert.deepEqual(parts.map((p) => new TextDecoder().decode(p)), ["ab", "", "cde", "f"]);
  } finally {
    a.close();
    b.close();
  }
});

socketTest("the shim refuses readv regions that do not fit their buffer (-EINVAL)", () => {
  const s = shim();
  const fds = new Int32Array(2);
  assert.equal(s.sh_socketpair(1, new Uint8Array(fds.buffer), 8), 0);
  try {
    assert.equal(s.sh_send(fds[1], bytes("x".repeat(300)), 300), 300);
    const base = new Uint8Array(100);
    const lens = (...n: number[]) => new Uint8Array(new Uint32Array(n).buffer);
    const einval = negErrno("EINVAL");
    assert.equal(s.sh_readv(fds[0], base, 100, lens(4294967196, 200), 8), einval);
    assert.equal(s.sh_readv(fds[0], base, 100, lens(60, 41), 8), einval);
    assert.equal(s.sh_readv(fds[0], base, -1, lens(1), 4), einval);
    assert.equal(s.sh_readv(fds[0], base, 100, lens(1), -4), einval);
    assert.equal(s.sh_readv(fds[0], base, 100, lens(1), 4 * 1025), einval);
    assert.equal(s.sh_recv(fds[0], base, -1), einval);
    assert.equal(s.sh_send(fds[1], base, -5), einval);
    assert.equal(s.sh_bind(fds[0], new Uint8Array(16), 16), einval); // address buffer too small
    assert.equal(s.sh_readv(fds[0], base, 100, lens(1, 2), 6), einval); // not whole lengths
    assert.equal(s.sh_socketpair(1, new Uint8Array(4), 4), einval); // room for one fd only
    assert.equal(s.sh_child_status(Deno.pid, new Uint8Array(8), 8), einval);
    assert.equal(s.sh_readv(fds[0], base, 100, lens(60, 40), 8), 100); // exactly fits
  } finally {
    s.sh_close(fds[0]);
    s.sh_close(fds[1]);
  }
}, { only: "ffi" });

socketTest(
  "lengths come from the buffer itself: a subclass cannot lie about its size",
  async () => {
    class Liar extends Uint8Array {
      override get length(): number {
        return 1 << 20;
      }
      override get byteLength(): number {
        return 1 << 20;
      }
    }
    const [a, b] = await socketPair();
    try {
      await b.send(new Uint8Array(64).fill(7));
      // (The Deno backend's copy throws a RangeError for such a buffer: no FFI there.)
      const liar = new Liar(8);
      const n = await withTimeout(2, () => a.recvInto(liar));
      assert.ok(n <= 8, `read ${n} bytes into 8`);
      const rest = await withTimeout(2, () => a.recvExact(64 - n));
      assert.equal(rest.length, 64 - n);
      assert.equal(await a.send(new Liar(3)), 3);
      assert.equal((await b.recvExact(3)).length, 3);
    } finally {
      a.close();
      b.close();
    }
  },
  { only: "ffi" },
);

socketTest(
  "a buffer detached or shrunk while a read waits gets no bytes past its end",
  async () => {
    const [a, b] = await socketPair();
    try {
      // Detached: a typed error, and the bytes stay for the next read.
      const detached = new Uint8Array(64);
      const reader = spawn(() => a.recvInto(detached));
      await sleep(0.02);
      detached.buffer.transfer();
      await b.send(new Uint8Array(64).fill(1));
      await assert.rejects(withTimeout(2, () => reader.join()), TypeError);
      assert.equal((await withTimeout(2, () => a.recvExact(64))).length, 64);
      // Shrunk (a resizable buffer): at most what is left is written.
      const resizable = new ArrayBuffer(64, { maxByteLength: 64 });
      const view = new Uint8Array(resizable); // tracks the buffer's length
      const shrunk = spawn(() => a.recvInto(view));
      await sleep(0.02);
      resizable.resize(4);
      await b.send(new Uint8Array(64).fill(2));
      assert.ok((await withTimeout(2, () => shrunk.join())) <= 4);
    } finally {
      a.close();
      b.close();
    }
  },
  { only: "ffi" },
);

socketTest("recvFrom sizes and descriptor numbers are checked", async () => {
  const u = (await socketPair("datagram"))[0];
  try {
    for (const size of [-1, 1.5, NaN, 2 ** 31]) {
      await assert.rejects(u.recvFrom(size), RangeError, String(size));
    }
    for (const fd of [-1, 1.5, 2 ** 32 + 3]) assert.throws(() => fdSocket(fd), RangeError);
    await assert.rejects(waitForProcessExit(-1), RangeError);
    await assert.rejects(waitForProcessExit(2 ** 32 + Deno.pid), RangeError);
  } finally {
    u.close();
  }
}, { only: "ffi" });

socketTest(
  "abstract unix names keep every byte: two names, two sockets, no squatting",
  async () => {
    const tag = `${Deno.pid}-${Math.random().toString(36).slice(2)}`;
    const nameA = `\0shrapnel-A-${tag}`, nameB = `\0shrapnel-B-${tag}`;
    const a = listenOn({ family: "unix", path: nameA });
    // Before the fix both names were the one-byte name "\0": this bind failed (EADDRINUSE).
    const b = listenOn({ family: "unix", path: nameB });
    const sockets: Socket[] = [a, b];
    try {
      assert.deepEqual(a.localAddress(), { family: "unix", path: nameA });
      assert.deepEqual(b.localAddress(), { family: "unix", path: nameB });
      const client = unixSocket();
      sockets.push(client);
      await client.connect({ family: "unix", path: nameB });
      const [conn] = await withTimeout(2, () => b.accept());
      sockets.push(conn);
      assert.deepEqual(client.remoteAddress(), { family: "unix", path: nameB });
      // A name nobody holds is refused, not routed to whoever holds a prefix of it.
      const stray = unixSocket();
      sockets.push(stray);
      await assert.rejects(
        stray.connect({ family: "unix", path: `\0shrapnel-${tag}` }),
        SocketError,
      );
    } finally {
      for (const s of sockets) s.close();
    }
  },
  { only: "ffi", ignore: !linux },
);

socketTest("a NUL inside a path is refused, not cut short", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = unixSocket();
    try {
      assert.throws(
        () => s.bind(`${dir}/a\0b`),
        (e) => e instanceof TypeError || (e instanceof SocketError && e.code === "EINVAL"),
      );
    } finally {
      s.close();
    }
    assert.equal([...Deno.readDirSync(dir)].length, 0); // nothing bound at "${dir}/a"
    await assert.rejects(waitForFileChange(`${dir}\0/ignored`), TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

socketTest(
  "unix paths up to the system's limit come back whole (accept, names, peers)",
  async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp" });
    const limit = linux ? 107 : 103;
    const path = (c: string) => `${dir}/${c.repeat(limit - dir.length - 1)}`;
    const sockets: Socket[] = [];
    try {
      const serverPath = path("s"), clientPath = path("c");
      assert.equal(new TextEncoder().encode(serverPath).length, limit);
      const server = listenOn(serverPath);
      sockets.push(server);
      assert.deepEqual(server.localAddress(), { family: "unix", path: serverPath });
      const client = unixSocket();
      sockets.push(client);
      client.bind(clientPath);
      await client.connect(serverPath);
      const [conn, peer] = await withTimeout(2, () => server.accept());
      sockets.push(conn);
      assert.deepEqual(peer, { family: "unix", path: clientPath });
      assert.deepEqual(conn.remoteAddress(), { family: "unix", path: clientPath });
      assert.throws(() => unixSocket().bind(`${dir}/${"x".repeat(limit)}`), TypeError);
    } finally {
      for (const s of sockets) s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
  { only: "ffi" },
);

socketTest(
  "fdSocket on a descriptor a socket owns is refused, and the owner keeps it",
  async () => {
    const [a, b] = await socketPair();
    try {
      const fd = (a as FfiSocket).fd;
      assert.throws(() => fdSocket(fd), (e) => e instanceof SocketError && e.code === "EEXIST");
      await b.send(bytes("still here"));
      assert.equal(
        new TextDecoder().decode(await withTimeout(2, () => a.recvExact(10))),
        "still here",
      );
    } finally {
      a.close();
      b.close();
    }
  },
  { only: "ffi" },
);

/** Spins the JavaScript thread (the helper thread meanwhile takes what the kernel has). */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the helper thread runs */ }
}

socketTest(
  "an event taken for a closed fd never wakes the next owner of its number",
  async () => {
    const poller = ffiPoller() as FfiPoller;
    const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
    try {
      let dropped = 0;
      for (let round = 0; round < 3; round++) {
        const [a, peer] = await socketPair();
        const reader = spawn(async () => {
          try {
            return await a.recv(1);
          } catch (e) {
            if (e instanceof ClosedError) return "closed";
            throw e;
          }
        });
        await sleep(0.05); // every thread waits: the poll goes to the helper thread
        const staleBefore = poller.statistics().stale;
        // All in one synchronous stretch: the helper takes the event for a's fd...
        assert.equal(peer.trySend(bytes("x")), 1);
        busyWait(30);
        const fd = (a as FfiSocket).fd;
        a.close(); // ...a's fd number is given back...
        // ...and the lowest free descriptors are filled until it is the lowest.
        const fillers: FfiSocket[] = [];
        for (;;) {
          const s = unixSocket("datagram") as FfiSocket;
          if (s.fd === fd) {
            s.close();
            break;
          }
          fillers.push(s);
          if (s.fd > fd + 64) break;
        }
        // The pidfd takes the number; the stale event must not end this wait.
        const exit = withTimeout(0.3, () => waitForProcessExit(child.pid));
        await assert.rejects(exit, TimeoutError, "a stale event woke the wait for a running child");
        assert.equal(await reader.join(), "closed");
        for (const s of fillers) s.close();
        peer.close();
        if (poller.statistics().stale > staleBefore) dropped++;
      }
      // The scenario happened (an event for a's fd was taken before its close, and dropped).
      assert.ok(dropped > 0, "no stale event was seen: the test did not exercise the race");
    } finally {
      child.kill();
      await child.status;
    }
  },
  { only: "ffi", ignore: !linux },
);

socketTest("the helper's wake cannot be taken by a synchronous poll", async () => {
  const s = shim();
  const handle = s.sh_poller_create();
  assert.ok(handle >= 0);
  try {
    const wait = s.sh_poller_wait(handle);
    await sleep(0.02);
    assert.equal(s.sh_poller_wake(handle), 0);
    const out = new Int32Array(3 * 256);
    for (let i = 0; i < 100; i++) assert.equal(s.sh_poller_poll(handle, out, out.byteLength), 0);
    // Before the two sets, the poll above drained the wake and this hung for ever.
    assert.equal(await withTimeout(2, () => wait), 0);
  } finally {
    assert.equal(s.sh_poller_close(handle), 0);
  }
  assert.equal(s.sh_poller_poll(handle, new Int32Array(3), 12), negErrno("EBADF"));
  assert.equal(await s.sh_poller_wait(handle), negErrno("EBADF")); // a wait after the end
}, { only: "ffi" });

socketTest("registering a closed or far-off descriptor is refused with EBADF", () => {
  const s = shim();
  const handle = s.sh_poller_create();
  assert.ok(handle >= 0);
  try {
    const fds = new Int32Array(2);
    assert.equal(s.sh_socketpair(1, new Uint8Array(fds.buffer), 8), 0);
    assert.equal(s.sh_poller_add(handle, fds[0], 1, 3, 0), 0);
    assert.equal(s.sh_poller_add(handle, fds[0], 2, 3, 0), negErrno("EEXIST"));
    assert.equal(s.sh_poller_del(handle, fds[0]), 0);
    assert.equal(s.sh_close(fds[0]), 0);
    assert.equal(s.sh_close(fds[1]), 0);
    // Within the fd table now, so no fcntl check first: epoll_ctl/kevent refuses it. Not
    // owned (0): had another thread of Deno taken the number meanwhile, it stays theirs.
    const closed = s.sh_poller_add(handle, fds[0], 3, 3, 0);
    if (closed === 0) s.sh_poller_del(handle, fds[0]); // the number was taken again
    else assert.equal(closed, negErrno("EBADF"));
    // Beyond the table: checked before the table would grow to a billion entries.
    assert.equal(s.sh_poller_add(handle, 2 ** 30, 4, 3, 0), negErrno("EBADF"));
    assert.equal(s.sh_poller_add(handle, -1, 5, 3, 0), negErrno("EBADF"));
  } finally {
    assert.equal(s.sh_poller_close(handle), 0);
  }
}, { only: "ffi" });

socketTest("a failing poll is reported to every waiting thread, not spun on", async () => {
  const real = shim();
  const ebadf = negErrno("EBADF");
  const faulty = {
    ...real,
    sh_poller_poll: () => ebadf,
    sh_poller_wait: () => Promise.resolve(ebadf),
  };
  const poller = new FfiPoller(faulty as Shim);
  const fds = new Int32Array(2);
  assert.equal(real.sh_socketpair(1, new Uint8Array(fds.buffer), 8), 0);
  const a = new FfiSocket(poller, fds[0], "unix", "stream");
  try {
    const reader = spawn(() => a.recv(1));
    const error = await withTimeout(2, () => reader.join()).catch((e) => e);
    assert.ok(error instanceof SocketError && error.code === "EBADF", String(error));
    await assert.rejects(a.recv(1), (e) => e instanceof SocketError && e.code === "EBADF");
  } finally {
    a.close();
    real.sh_close(fds[1]);
    poller.close();
  }
}, { only: "ffi" });

socketTest("closing a poller closes what it owns and ends its waits", async () => {
  const real = shim();
  const poller = new FfiPoller(real);
  const fds = new Int32Array(2);
  assert.equal(real.sh_socketpair(1, new Uint8Array(fds.buffer), 8), 0);
  const a = new FfiSocket(poller, fds[0], "unix", "stream");
  try {
    const reader = spawn(() => a.recv(1));
    await sleep(0.02);
    poller.close();
    await assert.rejects(withTimeout(2, () => reader.join()), ClosedError);
    assert.equal(real.sh_fd_flags(fds[0]), negErrno("EBADF")); // closed by the poller
    await withTimeout(2, () => poller.quiesce()); // its helper wait was woken, and returned
    // The socket's close does not close the number again (it may be someone else's now).
    const taken: number[] = [];
    try {
      while (!taken.includes(fds[0]) && taken.length < 256) {
        const pair = new Int32Array(2);
        assert.equal(real.sh_socketpair(1, new Uint8Array(pair.buffer), 8), 0);
        taken.push(pair[0], pair[1]);
      }
      assert.ok(taken.includes(fds[0]), "a's old number was not given out again");
      a.close();
      assert.ok(real.sh_fd_flags(fds[0]) >= 0, "a's close closed the fd that took its number");
    } finally {
      for (const fd of taken) real.sh_close(fd);
    }
  } finally {
    real.sh_close(fds[1]);
  }
}, { only: "ffi" });

socketTest("file watches give their descriptors back (kqueue: the watched file too)", async () => {
  // In a process of its own: test files running in parallel share this one's descriptors.
  const child = new URL("./watch_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", child, "ffi"],
    env: denoChildEnv(),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const m = /before (\d+) after (\d+)/.exec(text);
  assert.ok(m !== null, text);
  // A leak grows with the 20 watches; Deno itself may open a pair lazily meanwhile.
  assert.ok(Number(m[2]) - Number(m[1]) < 5, `${Number(m[2]) - Number(m[1])} descriptors leaked`);
}, { only: "ffi" });
