/**
 * The implementation of ./recovering.ts, loaded by the first connect.
 *
 * @module
 */

import { ClosedError } from "../../core/errors.ts";
import { sleep } from "../../core/sleep.ts";
import { Latch } from "../../core/sync/latch.ts";
import { spawn, type Thread } from "../../core/thread.ts";
import type { FieldTable, MessageProperties } from "./codec.ts";
import {
  type AmqpChannel,
  AmqpConnection,
  type AmqpOptions,
  type Consumer,
  type ExchangeDeclareOptions,
  type QueueDeclareOptions,
} from "./client.ts";
import {
  RecoveringAmqpConnection,
  RecoveringChannel,
  RecoveringConsumer,
  type RecoveringDelivery,
  type RecoveryOptions,
} from "./recovering.ts";

/** One connection of the series, numbered from 1. */
export interface Generation {
  number: number;
  connection: AmqpConnection;
}

type Step = (channel: AmqpChannel, names: Map<string, string>) => Promise<void>;

/** The implementation of {@linkcode RecoveringAmqpConnection} ./recovering.ts. */
export class RecoveringAmqpConnectionImpl extends RecoveringAmqpConnection {
  readonly #options: AmqpOptions;
  readonly #recovery: Required<
    Omit<RecoveryOptions, "onDisconnected" | "onReconnected" | "onFailed">
  >;
  readonly #hooks: RecoveryOptions;
  readonly #channels: RecoveringChannel[] = [];
  #up: Latch<Generation | { error: unknown }>;
  #current: Generation;
  #closed = false;
  #supervisor: Thread | null = null;
  /** Recoveries done since connect. */
  recoveries = 0;

  constructor(
    options: AmqpOptions,
    recovery: RecoveryOptions,
    first: AmqpConnection,
  ) {
    super();
    this.#options = options;
    this.#hooks = recovery;
    this.#recovery = {
      initialBackoff: recovery.initialBackoff ?? 0.1,
      maxBackoff: recovery.maxBackoff ?? 5,
      recoveryTimeout: recovery.recoveryTimeout ?? 60,
    };
    this.#current = { number: 1, connection: first };
    this.#up = new Latch();
    this.#up.release(this.#current);
  }

  /**
   * Connects (the first connect is not retried: a wrong address fails at once).
   * Interruption point.
   * @throws what {@linkcode AmqpConnection.connect} throws
   */
  static override async connect(
    options: AmqpOptions = {},
    recovery: RecoveryOptions = {},
  ): Promise<RecoveringAmqpConnectionImpl> {
    const first = await AmqpConnection.connect(options);
    const c = new RecoveringAmqpConnectionImpl(options, recovery, first);
    c.#supervisor = spawn({ name: "amqp recovery" }, () => c.#supervise());
    return c;
  }

  /** The connection in use now (replaced by each recovery). */
  get connection(): AmqpConnection {
    return this.#current.connection;
  }

  /** @internal The current generation, waiting for recovery if it is under way. */
  async _generation(): Promise<Generation> {
    const g = await this.#up.wait();
    if ("error" in g) throw g.error;
    return g;
  }

  /**
   * @internal A call on `generation` failed: whether its connection was lost (then the
   * call may be tried again on the next generation).
   */
  _lost(generation: Generation): boolean {
    if (generation.connection.failure === null) return false;
    if (this.#closed) return false;
    if (this.#current === generation && this.#up.released) this.#up = new Latch();
    return true;
  }

  async #supervise(): Promise<void> {
    try {
      await this.#recoverEachLoss();
    } catch (e) {
      if (!this.#closed) throw e; // reported by the thread error hook
    }
  }

  async #recoverEachLoss(): Promise<void> {
    for (;;) {
      const lost = this.#current;
      const why = await lost.connection.failed();
      if (this.#closed) return;
      if (this.#current === lost && this.#up.released) this.#up = new Latch();
      this.#hooks.onDisconnected?.(why);
      const up = this.#up;
      const deadline = performance.now() + this.#recovery.recoveryTimeout * 1000;
      let wait = this.#recovery.initialBackoff;
      let lastError: unknown = why;
      for (let attempt = 1;; attempt++) {
        await sleep(wait);
        if (this.#closed) return;
        let connection: AmqpConnection | null = null;
        try {
          connection = await AmqpConnection.connect(this.#options);
          const next = { number: lost.number + 1, connection };
          for (const ch of this.#channels) await ch._restore(next);
          if (this.#closed) {
            await connection.close();
            return;
          }
          this.#current = next;
          this.recoveries++;
          up.release(next);
          this.#hooks.onReconnected?.(attempt);
          break;
        } catch (e) {
          if (e instanceof ClosedError && this.#closed) return;
          lastError = e;
          if (connection !== null) await connection.close();
        }
        if (performance.now() + wait * 1000 > deadline) {
          up.release({ error: lastError });
          this.#hooks.onFailed?.(lastError);
          return;
        }
        wait = Math.min(wait * 2, this.#recovery.maxBackoff);
      }
    }
  }

  /** Opens a channel that is reopened, with its topology, by every recovery. Interruption point. */
  async channel(): Promise<RecoveringChannelImpl> {
    const ch = new RecoveringChannelImpl(this);
    this.#channels.push(ch); // a recovery from now on restores it too
    try {
      await ch._open();
    } catch (e) {
      this._forget(ch);
      throw e;
    }
    return ch;
  }

  /** @internal A channel closed by its user: not restored any more. */
  _forget(channel: RecoveringChannel): void {
    const i = this.#channels.indexOf(channel);
    if (i >= 0) this.#channels.splice(i, 1);
  }

  /** Closes the connection and stops recovering. Interruption point. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new ClosedError("the recovering connection is closed");
    this.#up.release({ error: closed });
    if (this.#supervisor !== null && !this.#supervisor.dead) this.#supervisor.interrupt(closed);
    await this.#current.connection.close();
    await this.#supervisor?.join();
  }
}

/** The implementation of {@linkcode RecoveringChannel} ./recovering.ts. */
export class RecoveringChannelImpl extends RecoveringChannel {
  readonly #owner: RecoveringAmqpConnection;
  readonly #steps: Step[] = [];
  readonly #consumers = new Set<RecoveringConsumer>();
  /** Server-named queues: the first name given out, and the name on this connection. */
  readonly #names = new Map<string, string>();
  #channel: AmqpChannel | null = null;
  #generation = 0;
  /** Acks (and nacks) dropped because their delivery came before a recovery. */
  staleAcks = 0;
  /** Publishes sent again after a loss (each may be a duplicate). */
  republished = 0;

  /** @internal */
  constructor(owner: RecoveringAmqpConnection) {
    super();
    this.#owner = owner;
  }

  /** @internal Opens the channel on the current connection. */
  async _open(): Promise<void> {
    for (;;) {
      const g = await this.#owner._generation();
      if (this.#generation >= g.number) return; // a recovery opened it meanwhile
      try {
        this.#channel = await g.connection.channel();
        this.#generation = g.number;
        return;
      } catch (e) {
        if (!this.#owner._lost(g)) throw e;
      }
    }
  }

  /** Closes the channel; it is not restored any more. Interruption point. */
  async close(): Promise<void> {
    this.#owner._forget(this);
    for (const c of this.#consumers) c._stop();
    this.#consumers.clear();
    const g = await this.#owner._generation().catch((e) => {
      if (e instanceof ClosedError) return null; // the connection is closed: so is the channel
      throw e;
    });
    if (g === null || this.#generation !== g.number || this.#channel === null) return;
    try {
      await this.#channel.close();
    } catch (e) {
      if (!this.#owner._lost(g)) throw e; // lost: the channel went with its connection
    }
  }

  /** @internal Opens the channel on `g` and replays what it declared, then its consumers. */
  async _restore(g: Generation): Promise<void> {
    const ch = await g.connection.channel();
    for (const step of this.#steps) await step(ch, this.#names);
    for (const c of this.#consumers) await c._resume(ch, g.number, this.#names);
    this.#channel = ch;
    this.#generation = g.number;
  }

  /** Runs `call` on the channel, again on the next connection if this one is lost. */
  async #run<T>(call: (ch: AmqpChannel, generation: number) => Promise<T>): Promise<T> {
    for (let tries = 0;; tries++) {
      const g = await this.#owner._generation();
      if (this.#generation !== g.number || this.#channel === null) {
        throw new ClosedError("the channel was not restored");
      }
      try {
        return await call(this.#channel, g.number);
      } catch (e) {
        if (!this.#owner._lost(g)) throw e;
      }
    }
  }

  /** Adds a step to replay and runs it now. */
  async #declare(step: Step): Promise<void> {
    await this.#run((ch) => step(ch, this.#names));
    this.#steps.push(step);
  }

  /** Declares an exchange (again on each recovery). Interruption point. */
  exchangeDeclare(
    name: string,
    type = "direct",
    options: ExchangeDeclareOptions = {},
  ): Promise<void> {
    return this.#declare((ch) => ch.exchangeDeclare(name, type, options));
  }

  /**
   * Declares a queue (again on each recovery; a server-named one gets a new name, and the
   * first name keeps working). Interruption point.
   */
  async queueDeclare(
    name = "",
    options: QueueDeclareOptions = {},
  ): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    let first: { queue: string; messageCount: number; consumerCount: number } | null = null;
    let givenName = name;
    await this.#declare(async (ch, names) => {
      const r = await ch.queueDeclare(name, options);
      if (first === null) {
        first = r;
        givenName = r.queue;
      }
      if (name === "") names.set(givenName, r.queue);
    });
    return first!;
  }

  /** Binds a queue to an exchange (again on each recovery). Interruption point. */
  queueBind(
    queue: string,
    exchange: string,
    routingKey = "",
    args: FieldTable = {},
  ): Promise<void> {
    return this.#declare((ch, names) =>
      ch.queueBind(names.get(queue) ?? queue, exchange, routingKey, args)
    );
  }

  /** Limits unacknowledged deliveries (again on each recovery). Interruption point. */
  qos(prefetchCount: number): Promise<void> {
    return this.#declare((ch) => ch.qos(prefetchCount));
  }

  /** Turns publisher confirms on (again on each recovery). Interruption point. */
  confirmSelect(): Promise<void> {
    return this.#declare((ch) => ch.confirmSelect());
  }

  /**
   * Publishes; with confirms on, returns once the broker confirmed. Lost before the
   * confirm, the message is published again on the next connection (a possible
   * duplicate, counted in `republished`). Interruption point.
   * @throws {AmqpError} if the broker nacks it
   * @throws {ConfirmTimeoutError} if no confirm came in time on a live connection
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    properties: MessageProperties = {},
    options: { mandatory?: boolean } = {},
  ): Promise<void> {
    let tries = 0;
    await this.#run((ch) => {
      if (tries++ > 0) this.republished++;
      return ch.publish(
        exchange,
        this.#names.get(routingKey) ?? routingKey,
        body,
        properties,
        options,
      );
    });
  }

  /**
   * Starts a consumer on `queue`, resumed on each recovery. Interruption point.
   */
  async consume(
    queue: string,
    options: { noAck?: boolean; exclusive?: boolean } = {},
  ): Promise<RecoveringConsumerImpl> {
    const consumer = new RecoveringConsumerImpl(this, queue, options);
    await this.#run((ch, generation) => consumer._resume(ch, generation, this.#names));
    this.#consumers.add(consumer);
    return consumer;
  }

  /** @internal */
  _forget(consumer: RecoveringConsumer): void {
    this.#consumers.delete(consumer);
  }

  /** @internal Waits for the next connection after `generation` was lost. */
  async _recovered(generation: number): Promise<void> {
    for (;;) {
      const g = await this.#owner._generation();
      if (g.number > generation) return;
      if (!this.#owner._lost(g)) return;
    }
  }

  /**
   * Acknowledges a delivery. One that came before a recovery is not acked (the broker
   * delivers it again): counted in `staleAcks`. Interruption point.
   */
  async ack(delivery: RecoveringDelivery, multiple = false): Promise<void> {
    if (delivery.generation !== this.#generation) {
      this.staleAcks++;
      return;
    }
    const g = await this.#owner._generation();
    try {
      await this.#channel!.ack(delivery.deliveryTag, multiple);
    } catch (e) {
      if (!this.#owner._lost(g)) throw e;
      this.staleAcks++;
    }
  }

  /** Rejects a delivery, requeued by default (a stale one: as `ack`). Interruption point. */
  async nack(delivery: RecoveringDelivery, multiple = false, requeue = true): Promise<void> {
    if (delivery.generation !== this.#generation) {
      this.staleAcks++;
      return;
    }
    const g = await this.#owner._generation();
    try {
      await this.#channel!.nack(delivery.deliveryTag, multiple, requeue);
    } catch (e) {
      if (!this.#owner._lost(g)) throw e;
      this.staleAcks++;
    }
  }
}

/** The implementation of {@linkcode RecoveringConsumer} ./recovering.ts. */
export class RecoveringConsumerImpl extends RecoveringConsumer {
  readonly #channel: RecoveringChannel;
  readonly #queue: string;
  readonly #options: { noAck?: boolean; exclusive?: boolean };
  #consumer: Consumer | null = null;
  #generation = 0;
  #cancelled = false;

  /** @internal */
  constructor(
    channel: RecoveringChannel,
    queue: string,
    options: { noAck?: boolean; exclusive?: boolean },
  ) {
    super();
    this.#channel = channel;
    this.#queue = queue;
    this.#options = options;
  }

  /** @internal Consumes on `ch` (a new connection's channel). */
  async _resume(ch: AmqpChannel, generation: number, names: Map<string, string>): Promise<void> {
    this.#consumer = await ch.consume(names.get(this.#queue) ?? this.#queue, this.#options);
    this.#generation = generation;
  }

  /**
   * The next delivery, or null once cancelled; across a loss it waits for the recovery
   * and goes on. Interruption point.
   * @throws the last error once recovery gave up; a channel error (404...) as it comes
   */
  async next(): Promise<RecoveringDelivery | null> {
    for (;;) {
      if (this.#cancelled) return null;
      const consumer = this.#consumer!, generation = this.#generation;
      try {
        const d = await consumer.next();
        if (d === null) return null;
        return { ...d, generation };
      } catch (e) {
        if (this.#cancelled) return null; // its channel was closed
        await this.#channel._recovered(generation);
        if (this.#generation === generation) throw e; // not a loss: the channel's own error
      }
    }
  }

  /** @internal Its channel was closed: it ends (next() returns null). */
  _stop(): void {
    this.#cancelled = true;
  }

  /** Stops consuming. Interruption point. */
  async cancel(): Promise<void> {
    this.#cancelled = true;
    this.#channel._forget(this);
    await this.#consumer?.cancel();
  }

  /** Deliveries until cancelled. */
  async *[Symbol.asyncIterator](): AsyncIterator<RecoveringDelivery> {
    for (;;) {
      const d = await this.next();
      if (d === null) return;
      yield d;
    }
  }
}
