/**
 * The recovering AMQP connection against a real RabbitMQ killed (-9) mid-stream and
 * restarted on the same port: nothing confirmed is lost, duplicates are counted.
 */
import assert from "node:assert/strict";
import {
  ClosedError,
  connectTo,
  listenOn,
  sleep,
  type Socket,
  spawn,
  type Thread,
  withTimeout,
} from "../../../mod.ts";
import { RecoveringAmqpConnection } from "../../../proto/amqp/mod.ts";
import { PeerLostError, SocketError } from "../../../net/errors.ts";
import { withServer } from "../../_servers.ts";
import { rabbitmqAvailable, startRabbitmq } from "./_rabbitmq.ts";

const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);

servers.test("broker kill -9 and restart mid-stream: nothing confirmed lost, duplicates counted", async (broker) => {
  const events: string[] = [];
  let lostWith: unknown = null;
  const amqp = await RecoveringAmqpConnection.connect({ port: broker.port }, {
    initialBackoff: 0.2,
    maxBackoff: 1,
    recoveryTimeout: 120,
    onDisconnected: (e) => {
      events.push("disconnected");
      lostWith = e;
    },
    onReconnected: () => events.push("reconnected"),
    onFailed: () => events.push("failed"),
  });
  try {
    const pub = await amqp.channel();
    await pub.confirmSelect();
    await pub.exchangeDeclare("recovery.x", "direct", { durable: true });
    await pub.queueDeclare("recovery.q", { durable: true });
    await pub.queueBind("recovery.q", "recovery.x", "k");
    const sub = await amqp.channel();
    await sub.qos(20);
    await sub.queueDeclare("recovery.q", { durable: true });
    const consumer = await sub.consume("recovery.q");

    const total = 400;
    const confirmed = new Set<number>();
    const received = new Map<number, number>();
    const publisher = spawn({ name: "publisher" }, async () => {
      for (let i = 0; i < total; i++) {
        await pub.publish("recovery.x", "k", String(i), { deliveryMode: 2 });
        confirmed.add(i);
        if (i % 20 === 0) await sleep(0.01);
      }
    });
    const reader = spawn({ name: "consumer" }, async () => {
      while (received.size < total) {
        const d = await consumer.next();
        if (d === null) return;
        const n = Number(new TextDecoder().decode(d.body));
        received.set(n, (received.get(n) ?? 0) + 1);
        await sub.ack(d);
      }
    });
    while (confirmed.size < 100) await sleep(0.01);
    const confirmedBeforeKill = confirmed.size;
    await broker.restart(); // kill -9 the broker, start it again on the same port
    await withTimeout(120, () => publisher.join());
    await withTimeout(60, () => reader.join());

    assert.ok(confirmedBeforeKill < total);
    assert.equal(confirmed.size, total);
    const lost = [...confirmed].filter((n) => !received.has(n));
    assert.deepEqual(lost, [], "confirmed messages lost");
    const duplicates = [...received.values()].reduce((sum, c) => sum + c - 1, 0);
    console.log(
      `recovery: ${amqp.recoveries} recoveries, events ${events.join(",")}; ` +
        `${pub.republished} republished, ${duplicates} duplicates received, ` +
        `${sub.staleAcks} stale acks`,
    );
    assert.ok(amqp.recoveries >= 1);
    // The kill reached the connection as a lost peer, the one type every client uses.
    assert.ok(lostWith instanceof PeerLostError, String(lostWith));
    assert.equal(lostWith.client, "amqp");
    assert.equal(events[0], "disconnected");
    assert.ok(events.includes("reconnected"));
    assert.ok(!events.includes("failed"));
    // At-least-once: a duplicate is a redelivery (unacked at the kill) or a republish.
    assert.ok(duplicates <= pub.republished + 20 + sub.staleAcks, `${duplicates} duplicates`);
  } finally {
    await amqp.close();
  }
});

servers.test("a connection dropped under it: recovered, exclusive queue renamed, consumer goes on", async (broker) => {
  const events: string[] = [];
  const amqp = await RecoveringAmqpConnection.connect({ port: broker.port }, {
    initialBackoff: 0.05,
    onDisconnected: () => events.push("disconnected"),
    onReconnected: (attempts) => events.push(`reconnected after ${attempts}`),
  });
  try {
    const ch = await amqp.channel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    const consumer = await ch.consume(queue);
    await ch.publish("", queue, "before");
    const first = await withTimeout(5, () => consumer.next());
    assert.equal(new TextDecoder().decode(first!.body), "before");
    await ch.ack(first!);
    const old = amqp.connection;
    await old.close(); // the socket goes, as when the broker closes it
    await ch.publish("", queue, "after"); // waits for the recovery, to the renamed queue
    const second = await withTimeout(5, () => consumer.next());
    assert.equal(new TextDecoder().decode(second!.body), "after");
    await ch.ack(second!);
    assert.notEqual(amqp.connection, old);
    assert.deepEqual(events, ["disconnected", "reconnected after 1"]);
    await ch.close();
    assert.equal(await consumer.next(), null);
  } finally {
    await amqp.close();
  }
});

/** A TCP relay to the broker that the test can cut for good (a partition, a dead host). */
function relay(port: number): { port: number; cut(): void } {
  const listener = listenOn("127.0.0.1:0");
  const sockets = new Set<Socket>();
  const threads = new Set<Thread>();
  const pipe = async (from: Socket, to: Socket) => {
    for (;;) {
      const data = await from.recv(65536).catch(() => new Uint8Array(0));
      if (data.length === 0 || await to.send(data).then(() => false, () => true)) break;
    }
    from.close();
    to.close();
  };
  threads.add(spawn({ name: "relay" }, async () => {
    for (;;) {
      const accepted = await listener.accept().catch((e) => {
        if (e instanceof ClosedError || e instanceof SocketError) return null; // cut
        throw e;
      });
      if (accepted === null) return;
      const client = accepted[0];
      const upstream = await connectTo(`127.0.0.1:${port}`);
      sockets.add(client).add(upstream);
      threads.add(spawn(() => pipe(client, upstream)));
      threads.add(spawn(() => pipe(upstream, client)));
    }
  }));
  return {
    port: (listener.localAddress() as { port: number }).port,
    cut() {
      listener.close();
      for (const s of sockets) s.close();
    },
  };
}

servers.test("the broker unreachable for good: recovery gives up after recoveryTimeout, onFailed, waiting calls get the error", async (broker) => {
  const link = relay(broker.port);
  const events: string[] = [];
  let failedWith: unknown = null;
  const amqp = await RecoveringAmqpConnection.connect({ port: link.port }, {
    initialBackoff: 0.1,
    maxBackoff: 0.2,
    recoveryTimeout: 1,
    onDisconnected: () => events.push("disconnected"),
    onReconnected: () => events.push("reconnected"),
    onFailed: (e) => {
      events.push("failed");
      failedWith = e;
    },
  });
  try {
    const ch = await amqp.channel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    await ch.publish("", queue, "one");
    link.cut();
    const started = performance.now();
    const error = await ch.publish("", queue, "two").then(() => null, (e) => e);
    const waited = (performance.now() - started) / 1000;
    assert.ok(error !== null, "a publish with no broker to reach succeeded");
    assert.equal(error, failedWith); // the last connect error, as onFailed got it
    assert.ok(waited >= 0.8 && waited < 3, `${waited} s`);
    assert.deepEqual(events, ["disconnected", "failed"]);
    await assert.rejects(ch.publish("", queue, "three"), (e) => e === failedWith);
  } finally {
    await amqp.close();
  }
});

servers.finish();
