/** The shared acceptor: the cap on open connections, release, statistics, close. */
import assert from "node:assert/strict";
import { Acceptor, connectTo, listenOn, type Socket, SocketError, withTimeout } from "../../mod.ts";
import { sleep } from "../../core/sleep.ts";
import { socketTest } from "./_backends.ts";
import { inThread } from "../_helpers.ts";

socketTest("past maxConnections nothing is accepted until a connection is released", async () => {
  const listener = listenOn("127.0.0.1:0");
  const served: Socket[] = [];
  const acceptor = new Acceptor(listener, (socket) => served.push(socket), {
    maxConnections: 2,
  });
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) clients.push(await connectTo(listener.localAddress()));
    await withTimeout(2, async () => {
      while (served.length < 2) await sleep(0.005);
    });
    await sleep(0.1);
    assert.equal(served.length, 2, "a third connection was accepted past the cap");
    let stats = acceptor.statistics();
    assert.equal(stats.open, 2);
    assert.equal(stats.maxConnections, 2);
    assert.ok(stats.capped >= 1);
    served[0].close();
    acceptor.release();
    await withTimeout(2, async () => {
      while (served.length < 3) await sleep(0.005);
    });
    stats = acceptor.statistics();
    assert.equal(stats.accepted, 3);
    assert.equal(stats.open, 2);
  } finally {
    for (const s of [...clients, ...served]) s.close();
    await acceptor.close();
  }
  assert.ok(listener.closed);
  assert.ok(acceptor.thread.dead);
});

socketTest("a handler that throws closes its connection; the loop goes on", async () => {
  const listener = listenOn("127.0.0.1:0");
  let calls = 0;
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  const acceptor = new Acceptor(listener, () => {
    calls++;
    throw new Error("handler bug");
  });
  try {
    for (let i = 0; i < 2; i++) {
      const client = await connectTo(listener.localAddress());
      // The connection is closed at once: the client reads its end.
      assert.equal((await withTimeout(2, () => client.recv(10))).length, 0);
      client.close();
    }
    assert.equal(calls, 2);
    assert.equal(acceptor.statistics().open, 0);
    assert.equal(errors.length, 2);
  } finally {
    console.error = original;
    await acceptor.close();
  }
});

Deno.test("resource errors are told apart from the others", () => {
  for (const code of ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "ECONNABORTED"]) {
    assert.ok(Acceptor.isResourceError(SocketError.from(code, "accept")), code);
  }
  assert.ok(!Acceptor.isResourceError(SocketError.from("EBADF", "accept")));
  assert.ok(!Acceptor.isResourceError(new Error("EMFILE")));
});

Deno.test("resource errors back off 10 ms, doubling, capped; one report per burst", async () => {
  await inThread(async () => {
    const attempts: number[] = [];
    let failures = 7;
    let closed = false;
    const fake = {
      get closed() {
        return closed;
      },
      close() {
        closed = true;
      },
      async acceptMany(): Promise<[Socket, unknown][]> {
        attempts.push(performance.now());
        if (failures-- > 0) throw SocketError.from("EMFILE", "accept");
        await sleep(60); // then nothing more comes
        return [];
      },
    } as unknown as Socket;
    const reports: SocketError[] = [];
    const acceptor = new Acceptor(fake, () => {}, {
      maxBackoff: 0.16,
      onResourceError: (e) => reports.push(e),
    });
    await withTimeout(5, async () => {
      while (attempts.length < 8) await sleep(0.005);
    });
    await acceptor.close();
    const gaps = attempts.slice(1, 8).map((t, i) => t - attempts[i]);
    // 10, 20, 40, 80, 160, 160, 160 ms (a little more for the scheduler).
    const expected = [10, 20, 40, 80, 160, 160, 160];
    gaps.forEach((gap, i) => assert.ok(gap >= expected[i] - 2, `gap ${i}: ${gaps}`));
    assert.ok(gaps[6] < 600, `capped (uncapped it would be 640 ms): ${gaps}`);
    assert.equal(reports.length, 1);
    const stats = acceptor.statistics();
    assert.equal(stats.resourceErrors, 7);
    assert.equal(stats.resourceBursts, 1);
    assert.equal(stats.lastResourceError, "EMFILE");
  });
});
