/** `listenOn(address, { reusePort: true })`: several listeners on one port, both accepting. */
import assert from "node:assert/strict";
import {
  Acceptor,
  AddressInUseError,
  connectTo,
  listenOn,
  type Socket,
  withTimeout,
} from "../../mod.ts";
import { sleep } from "../../core/sleep.ts";
import { socketTest } from "./_backends.ts";

socketTest("two reusePort listeners share a port and the kernel spreads connections", async () => {
  const first = listenOn("127.0.0.1:0", { reusePort: true });
  const second = listenOn(first.localAddress(), { reusePort: true });
  assert.deepEqual(second.localAddress(), first.localAddress());
  const served: [Socket[], Socket[]] = [[], []];
  const acceptors = [first, second].map((listener, i) =>
    new Acceptor(listener, (socket) => served[i].push(socket))
  );
  const clients: Socket[] = [];
  const total = 64;
  try {
    // Each connection comes from its own source port: the kernel's hash of the 4-tuple
    // picks the listener, so 64 connections all landing on one has odds of 2^-63.
    for (let i = 0; i < total; i++) clients.push(await connectTo(first.localAddress()));
    await withTimeout(5, async () => {
      while (served[0].length + served[1].length < total) await sleep(0.005);
    });
    assert.ok(served[0].length > 0, "the first listener accepted nothing");
    assert.ok(served[1].length > 0, "the second listener accepted nothing");
    assert.equal(served[0].length + served[1].length, total);
  } finally {
    for (const s of [...clients, ...served[0], ...served[1]]) s.close();
    for (const a of acceptors) await a.close();
  }
});

socketTest("without reusePort the second listener is refused the port", () => {
  const shared = listenOn("127.0.0.1:0", { reusePort: true });
  const plain = listenOn("127.0.0.1:0");
  try {
    assert.throws(() => listenOn(plain.localAddress(), { reusePort: true }), AddressInUseError);
    assert.throws(() => listenOn(shared.localAddress()), AddressInUseError);
  } finally {
    shared.close();
    plain.close();
  }
});

socketTest("a backlog number still works as the second argument", () => {
  const listener = listenOn("127.0.0.1:0", 16);
  try {
    assert.equal(listener.getOption("SO_REUSEPORT"), 0);
  } finally {
    listener.close();
  }
});
