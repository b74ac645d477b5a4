/** AMQP 0-9-1 against Debian's RabbitMQ on loopback; the codec on garbage. */
import { freezeProcess, withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { current, Interrupted, sleep, spawn, TimeoutError, withTimeout } from "../../../mod.ts";
import {
  AmqpConnection,
  AmqpError,
  AmqpMessageTooLargeError,
  AmqpProtocolError,
  ConfirmTimeoutError,
} from "../../../proto/amqp/mod.ts";
import { Reader, Writer } from "../../../proto/amqp/codec.ts";
import { inThread, prng } from "../../_helpers.ts";
import { rabbitmqAvailable, startRabbitmq } from "./_rabbitmq.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);
const amqpTest = (name: string, body: (port: number) => Promise<void>) =>
  servers.test(name, (server) => body(server.port));

amqpTest("publishMany: several messages in one write, in order, confirmed", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    const ch = await amqp.channel();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    await ch.publishMany([]); // nothing to send is not an error
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff); // several body frames
    await ch.publishMany([
      { exchange: "", routingKey: queue, body: "one" },
      { exchange: "", routingKey: queue, body: big, properties: { contentType: "x/big" } },
      { exchange: "", routingKey: "no-such-queue", body: "dropped" },
      { exchange: "", routingKey: queue, body: "three" },
    ]);
    await ch.confirmSelect();
    await ch.publishMany([{ exchange: "", routingKey: queue, body: "four" }]);
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await ch.get(queue, { noAck: true }))!);
    assert.equal(text(got[0].body), "one");
    assert.deepEqual(got[1].body, big);
    assert.equal(got[1].properties.contentType, "x/big");
    assert.deepEqual(got.slice(2).map((d) => text(d.body)), ["three", "four"]);
    assert.equal(await ch.get(queue), null);
    // To an exchange that does not exist: the broker closes the channel, publishMany says so.
    await assert.rejects(
      ch.publishMany([{ exchange: "no-such-exchange", routingKey: "k", body: "x" }]),
      AmqpError,
    );
  } finally {
    await amqp.close();
  }
});

amqpTest(
  "maxMessageBytes: an oversized message is discarded unheld, rejected to the dead-letter queue, the consumer goes on",
  async (port) => {
    const admin = await AmqpConnection.connect({ port });
    const dropped: AmqpMessageTooLargeError[] = [];
    const amqp = await AmqpConnection.connect({
      port,
      maxMessageBytes: 1024,
      onMessageDropped: (e) => dropped.push(e),
    });
    try {
      const adminCh = await admin.channel();
      const suffix = crypto.randomUUID();
      const { queue: dlq } = await adminCh.queueDeclare(`cap-dlq-${suffix}`, {
        arguments: { "x-expires": 60_000 }, // gone even if this test dies
      });
      const { queue } = await adminCh.queueDeclare(`cap-${suffix}`, {
        arguments: {
          "x-expires": 60_000,
          "x-dead-letter-exchange": "",
          "x-dead-letter-routing-key": dlq,
        },
      });
      await adminCh.confirmSelect();
      const big = new Uint8Array(1 << 20).fill(7);
      const ch = await amqp.channel();
      await ch.qos(100);
      const consumer = await ch.consume(queue);
      for (let i = 0; i < 32; i++) await adminCh.publish("", queue, big);
      await adminCh.publish("", queue, "small");
      const d = (await withTimeout(10, () => consumer.next()))!;
      assert.equal(text(d.body), "small");
      assert.equal(d.redelivered, false);
      await ch.ack(d.deliveryTag);
      // 32 MiB went by and nothing of it was kept (the body frames are counted, never
      // copied; memory is for benchmarks, not tests): only the small one came.
      assert.equal(dropped.length, 32);
      assert.equal(amqp.messagesDropped, 32);
      assert.ok(dropped[0] instanceof AmqpError);
      assert.equal(dropped[0].size, 1 << 20);
      assert.equal(dropped[0].limit, 1024);
      assert.equal(dropped[0].routingKey, queue);
      assert.equal(dropped[0].consumerTag, consumer.tag);
      // Rejected without requeue: dead-lettered whole, never delivered again here.
      for (let i = 0; i < 32; i++) {
        const dead = await withTimeout(10, async () => {
          for (;;) {
            const got = await adminCh.get(dlq, { noAck: true });
            if (got !== null) return got;
            await sleep(0.02);
          }
        });
        assert.equal(dead.body.length, 1 << 20);
      }
      assert.equal(await adminCh.get(queue), null);
      // get: throws once, the channel stays open, the next get gets the next message.
      await consumer.cancel();
      await adminCh.publish("", queue, big);
      await adminCh.publish("", queue, "after");
      await assert.rejects(ch.get(queue), AmqpMessageTooLargeError);
      assert.equal(text((await ch.get(queue, { noAck: true }))!.body), "after");
      assert.ok(
        (await withTimeout(10, async () => {
          for (;;) {
            const got = await adminCh.get(dlq, { noAck: true });
            if (got !== null) return got;
            await sleep(0.02);
          }
        })).body.length === 1 << 20,
      );
      // noAck: nothing to reject (rejecting would close the channel with 406).
      await adminCh.publish("", queue, big);
      await assert.rejects(ch.get(queue, { noAck: true }), AmqpMessageTooLargeError);
      const quiet = await ch.consume(queue, { noAck: true });
      await adminCh.publish("", queue, big);
      await adminCh.publish("", queue, "last");
      assert.equal(text((await withTimeout(10, () => quiet.next()))!.body), "last");
      assert.equal(amqp.messagesDropped, 35);
      // Small messages pass as ever.
      await adminCh.publish("", queue, new Uint8Array(1024));
      assert.equal((await withTimeout(10, () => quiet.next()))!.body.length, 1024);
      await quiet.cancel();
      await ch.close();
      await adminCh.queueDelete(queue);
      await adminCh.queueDelete(dlq);
    } finally {
      await amqp.close();
      await admin.close();
    }
  },
);

amqpTest("unbind: messages for the key stop coming, other bindings stay", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    const ch = await amqp.channel();
    await ch.exchangeDeclare("shrapnel.unbind", "topic", { autoDelete: true });
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    await ch.queueBind(queue, "shrapnel.unbind", "a.*");
    await ch.queueBind(queue, "shrapnel.unbind", "b.*");
    await ch.queueUnbind(queue, "shrapnel.unbind", "a.*");
    await ch.queueUnbind(queue, "shrapnel.unbind", "never.bound"); // not an error
    await ch.confirmSelect();
    await ch.publish("shrapnel.unbind", "a.1", "gone");
    await ch.publish("shrapnel.unbind", "b.1", "kept");
    const got = await ch.get(queue, { noAck: true });
    assert.equal(text(got!.body), "kept");
    assert.equal(await ch.get(queue), null);
  } finally {
    await amqp.close();
  }
});

amqpTest("declare, bind, publish with confirms, get, consume, ack", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    assert.equal(amqp.serverProperties.product, "RabbitMQ");
    const ch = await amqp.channel();
    await ch.exchangeDeclare("shrapnel.topic", "topic", { autoDelete: true });
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    await ch.queueBind(queue, "shrapnel.topic", "orders.*");
    await ch.confirmSelect();
    await ch.publish("shrapnel.topic", "orders.new", "first", {
      contentType: "text/plain",
      headers: { n: 1 },
    });
    await ch.publish("shrapnel.topic", "other.key", "not routed here");
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff); // several body frames
    await ch.publish("shrapnel.topic", "orders.big", big);
    const got = await ch.get(queue);
    assert.ok(got !== null);
    assert.equal(text(got.body), "first");
    assert.equal(got.routingKey, "orders.new");
    assert.equal(got.properties.contentType, "text/plain");
    assert.deepEqual(got.properties.headers, { n: 1 });
    await ch.ack(got.deliveryTag);
    const consumer = await ch.consume(queue);
    const d = await withTimeout(5, () => consumer.next());
    assert.deepEqual(d!.body, big);
    await ch.ack(d!.deliveryTag);
    assert.equal(await ch.get(queue), null);
    await consumer.cancel();
    assert.equal(await consumer.next(), null);
    await ch.close();
  } finally {
    await amqp.close();
  }
});

amqpTest(
  "server errors close the channel with a typed error; the connection lives",
  async (port) => {
    const amqp = await AmqpConnection.connect({ port });
    try {
      const ch = await amqp.channel();
      await assert.rejects(
        ch.queueDeclare("no-such-queue", { passive: true }),
        (e: unknown) => e instanceof AmqpError && e.code === 404,
      );
      await assert.rejects(ch.publish("", "x", "y"), AmqpError); // the channel is gone
      const other = await amqp.channel();
      assert.match((await other.queueDeclare("", { exclusive: true })).queue, /^amq\.gen-/);
    } finally {
      await amqp.close();
    }
    await assert.rejects(
      AmqpConnection.connect({ port, password: "wrong" }),
      (e: unknown) => e instanceof AmqpError && e.code === 403, // ACCESS_REFUSED
    );
  },
);

amqpTest("RPC over direct reply-to, with a server thread answering", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    const serverCh = await amqp.channel();
    const { queue } = await serverCh.queueDeclare("rpc.double", { exclusive: true });
    const requests = await serverCh.consume(queue);
    const service = spawn(async () => {
      for await (const req of requests) {
        const n = Number(text(req.body));
        await serverCh.publish("", req.properties.replyTo!, String(n * 2), {
          correlationId: req.properties.correlationId,
        });
        await serverCh.ack(req.deliveryTag);
      }
    });
    const client = await amqp.channel();
    const reply = await client.rpc("", "rpc.double", "21", 5);
    assert.equal(text(reply.body), "42");
    await requests.cancel();
    await service.join();
  } finally {
    await amqp.close();
  }
});

amqpTest("transactions: publishes and acks take effect at commit, all or none", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    const watcher = await amqp.channel();
    const { queue: inbox } = await watcher.queueDeclare("", { exclusive: true });
    const { queue: outbox } = await watcher.queueDeclare("", { exclusive: true });
    await watcher.publish("", inbox, "work");
    const ch = await amqp.channel();
    assert.equal(ch.transactional, false);
    await ch.txSelect();
    assert.equal(ch.transactional, true);
    // Take the work, publish its result and ack it in one transaction: before the commit
    // the result is nowhere and the work is still held (unacked) by this channel.
    const work = await ch.get(inbox);
    assert.equal(text(work!.body), "work");
    await ch.publish("", outbox, "result 1");
    await ch.ack(work!.deliveryTag);
    assert.equal(await watcher.get(outbox), null);
    // Rolled back: the result never existed, the ack is forgotten.
    await ch.txRollback();
    assert.equal(await watcher.get(outbox), null);
    await ch.publish("", outbox, "result 2");
    await ch.ack(work!.deliveryTag);
    await ch.txCommit();
    const result = await watcher.get(outbox, { noAck: true });
    assert.equal(text(result!.body), "result 2");
    assert.equal(await watcher.get(outbox), null);
    assert.equal((await watcher.queueDeclare(inbox, { passive: true })).messageCount, 0);
    // A channel that ends without a commit (its process killed) applies nothing of its
    // transaction: the publish is dropped, the work it had acked comes back.
    await watcher.publish("", inbox, "work 2");
    const doomed = await amqp.channel();
    await doomed.txSelect();
    const work2 = await doomed.get(inbox);
    await doomed.publish("", outbox, "never");
    await doomed.ack(work2!.deliveryTag);
    await doomed.close();
    assert.equal(await watcher.get(outbox), null);
    const again = await watcher.get(inbox, { noAck: true });
    assert.equal(text(again!.body), "work 2");
    assert.equal(again!.redelivered, true);
    // Several commits in a row, several queues in one: each commit is whole.
    for (let i = 0; i < 3; i++) {
      await ch.publish("", inbox, `a${i}`);
      await ch.publish("", outbox, `b${i}`);
      await ch.txCommit();
      assert.equal(text((await watcher.get(inbox, { noAck: true }))!.body), `a${i}`);
      assert.equal(text((await watcher.get(outbox, { noAck: true }))!.body), `b${i}`);
    }
  } finally {
    await amqp.close();
  }
});

amqpTest("transactions and confirms do not mix; commit outside tx mode is a 406", async (port) => {
  const amqp = await AmqpConnection.connect({ port });
  try {
    const confirming = await amqp.channel();
    await confirming.confirmSelect();
    await assert.rejects(
      confirming.txSelect(),
      (e: unknown) => e instanceof AmqpError && e.code === 406,
    );
    const plain = await amqp.channel();
    await assert.rejects(
      plain.txCommit(),
      (e: unknown) => e instanceof AmqpError && e.code === 406,
    );
    const rollback = await amqp.channel();
    await assert.rejects(
      rollback.txRollback(),
      (e: unknown) => e instanceof AmqpError && e.code === 406,
    );
    const fine = await amqp.channel(); // the connection lives on
    await fine.txSelect();
    await fine.txCommit();
  } finally {
    await amqp.close();
  }
});

amqpTest("a consumer's wait is interruptible; heartbeats keep an idle connection", async (port) => {
  const amqp = await AmqpConnection.connect({ port, heartbeat: 1 });
  try {
    assert.equal(amqp.heartbeat, 1);
    const ch = await amqp.channel();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    const consumer = await ch.consume(queue, { noAck: true });
    await assert.rejects(withTimeout(0.1, () => consumer.next()), TimeoutError);
    await sleep(2.5); // idle over two heartbeat intervals: still alive
    await ch.publish("", queue, "after idling");
    assert.equal(text((await withTimeout(5, () => consumer.next()))!.body), "after idling");
  } finally {
    await amqp.close();
  }
});

Deno.test("the codec: tables round-trip; garbage gives AmqpProtocolError only", () => {
  const table = {
    s: "text",
    i: 7,
    big: 2n ** 40n,
    f: 1.5,
    t: true,
    nested: { a: [1, "two", null] },
    when: new Date(1_700_000_000_000),
  };
  const back = new Reader(new Writer().table(table).build()).table();
  assert.deepEqual(back, { ...table, big: 2 ** 40 });
  const random = prng(31);
  for (let i = 0; i < 20_000; i++) {
    const bytes = Uint8Array.from(
      { length: Math.floor(random() * 40) },
      () => Math.floor(random() * 256),
    );
    try {
      new Reader(bytes).table();
    } catch (e) {
      assert.ok(e instanceof AmqpProtocolError, String(e));
    }
  }
});

Deno.test({
  name: "a server that is not AMQP is a typed error, never a hang",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      await withFakePeer(async (conn) => {
        await conn.recv(8);
        await conn.send(new Uint8Array([1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 10, 0x00])); // bad frame end
      }, async (port) => {
        await assert.rejects(
          withTimeout(2, () => AmqpConnection.connect({ port })),
          AmqpProtocolError,
        );
      });
    }),
});

/** Runs `body` with the broker frozen (SIGSTOP), thawed afterwards or after 8 s at most. */
async function frozen(pid: number, body: () => Promise<void>): Promise<void> {
  await freezeProcess(pid);
  const thaw = setTimeout(() => Deno.kill(pid, "SIGCONT"), 8000);
  try {
    await body();
  } finally {
    clearTimeout(thaw);
    Deno.kill(pid, "SIGCONT");
  }
}

servers.test("a frozen broker: a confirm waits confirmTimeoutSeconds, then is typed", async (s) => {
  const amqp = await AmqpConnection.connect({ port: s.port, confirmTimeoutSeconds: 0.3 });
  try {
    const ch = await amqp.channel();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    await ch.confirmSelect();
    await frozen(s.brokerPid(), async () => {
      const t0 = performance.now();
      await assert.rejects(ch.publish("", queue, "into the void"), ConfirmTimeoutError);
      assert.ok(performance.now() - t0 < 3000);
    });
  } finally {
    await amqp.close();
  }
});

servers.test("a frozen broker is noticed by heartbeats: a consumer raises, never ends quietly", async (s) => {
  const amqp = await AmqpConnection.connect({ port: s.port, heartbeat: 1 });
  try {
    const ch = await amqp.channel();
    const { queue } = await ch.queueDeclare("", { exclusive: true });
    const consumer = await ch.consume(queue);
    await frozen(s.brokerPid(), async () => {
      const t0 = performance.now();
      // Silent for two intervals: the connection fails, and the consumer says so.
      await assert.rejects(consumer.next(), AmqpError);
      assert.ok(performance.now() - t0 < 6000);
    });
    await assert.rejects(consumer.next(), AmqpError); // and goes on saying so
  } finally {
    await amqp.close();
  }
});

amqpTest(
  "a publish interrupted before it was sent leaves the channel's confirms in step",
  async (port) => {
    const amqp = await AmqpConnection.connect({ port, confirmTimeoutSeconds: 2 });
    try {
      const ch = await amqp.channel();
      const { queue } = await ch.queueDeclare("", { exclusive: true });
      await ch.confirmSelect();
      await ch.publish("", queue, "first");
      // Interrupted at its first blocking point: nothing of it goes out.
      current()!.raise(new Interrupted("cancelled"));
      await assert.rejects(ch.publish("", queue, "never sent"), Interrupted);
      // The broker numbers this one 2: its confirm must be the one it waits for.
      await withTimeout(1, () => ch.publish("", queue, "second"));
      assert.equal(text((await ch.get(queue, { noAck: true }))!.body), "first");
      assert.equal(text((await ch.get(queue, { noAck: true }))!.body), "second");
    } finally {
      await amqp.close();
    }
  },
);

servers.finish();
