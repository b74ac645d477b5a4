/**
 * An AMQP connection that recovers by itself (opt-in): when the broker goes away it
 * reconnects with backoff, re-declares the topology its channels declared, resumes their
 * consumers, and publishes again what was not confirmed.
 *
 * @module
 */

import type { FieldTable, MessageProperties } from "./codec.ts";
import type {
  AmqpChannel,
  AmqpConnection,
  AmqpOptions,
  Delivery,
  ExchangeDeclareOptions,
  QueueDeclareOptions,
} from "./client.ts";
import { loadOnce } from "../_load_once.ts";
import type { Generation } from "./_recovering.ts";

/** The code, loaded by the first connect. */
const implementation = loadOnce(() => import("./_recovering.ts"), "the recovering AMQP client");

/** What a {@linkcode RecoveringAmqpConnection} does between attempts, and tells. */
export interface RecoveryOptions {
  /** Seconds before the first reconnect attempt (0.1); each next one waits twice as long. */
  initialBackoff?: number;
  /** Longest wait between attempts, seconds (5). */
  maxBackoff?: number;
  /**
   * Seconds recovery may take before it gives up for good (60): then every call, waiting
   * or new, throws the last error, and `onFailed` is called. `Infinity`: never give up.
   */
  recoveryTimeout?: number;
  /** The connection was lost (called once per loss, with why). */
  onDisconnected?: (error: unknown) => void;
  /** A new connection is up, topology and consumers restored (`attempts` it took). */
  onReconnected?: (attempts: number) => void;
  /** Recovery gave up (after `recoveryTimeout`). */
  onFailed?: (error: unknown) => void;
}

/** A delivery from a {@linkcode RecoveringConsumer}: ack it with its channel. */
export interface RecoveringDelivery extends Delivery {
  /** @internal The connection it came on: an ack after a recovery is moot. */
  readonly generation: number;
}

/**
 * A connection that survives the broker going away: see the module notes.
 *
 * Guarantees, with `confirmSelect` on the channel: a `publish` that returned was confirmed
 * by the broker (on durable queues with persistent messages it survives a broker
 * restart); one interrupted by a loss is published again on the new connection, so a
 * message may arrive twice (at-least-once: consumers must tolerate duplicates). Without
 * confirms, messages published just before a loss may be lost. Deliveries not acked
 * before a loss are delivered again by the broker; an ack for such a delivery after the
 * recovery does nothing (counted in {@linkcode RecoveringChannel.staleAcks}).
 *
 * Server-named queues (declared with name "") get a new name on each connection; calls
 * with the old name are mapped to the new one.
 *
 * Interruption points: every method; a call waiting for recovery waits at most
 * `recoveryTimeout`. The connection's threads are children of the thread that connected.
 *
 * @example
 * ```ts ignore
 * const amqp = await RecoveringAmqpConnection.connect({ port: 5672 }, {
 *   onDisconnected: (e) => console.log("lost:", e),
 * });
 * const ch = await amqp.channel();
 * await ch.confirmSelect();
 * await ch.queueDeclare("jobs", { durable: true });
 * await ch.publish("", "jobs", "hello", { deliveryMode: 2 });
 * await amqp.close();
 * ```
 */
export abstract class RecoveringAmqpConnection {
  /** Recoveries done since connect. */
  abstract recoveries: number;

  /**
   * Connects (the first connect is not retried: a wrong address fails at once).
   * Interruption point.
   * @throws what {@linkcode AmqpConnection.connect} throws
   */
  static async connect(
    options: AmqpOptions = {},
    recovery: RecoveryOptions = {},
  ): Promise<RecoveringAmqpConnection> {
    return (await implementation()).RecoveringAmqpConnectionImpl.connect(options, recovery);
  }

  /** The connection in use now (replaced by each recovery). */
  abstract get connection(): AmqpConnection;

  /** @internal The current generation, waiting for recovery if it is under way. */
  abstract _generation(): Promise<Generation>;

  /**
   * @internal A call on `generation` failed: whether its connection was lost (then the
   * call may be tried again on the next generation).
   */
  abstract _lost(generation: Generation): boolean;

  /** Opens a channel that is reopened, with its topology, by every recovery. Interruption point. */
  abstract channel(): Promise<RecoveringChannel>;

  /** @internal A channel closed by its user: not restored any more. */
  abstract _forget(channel: RecoveringChannel): void;

  /** Closes the connection and stops recovering. Interruption point. */
  abstract close(): Promise<void>;
}

/**
 * A channel of a {@linkcode RecoveringAmqpConnection}: what it declares is remembered and
 * declared again on each new connection; its consumers resume; a publish interrupted by a
 * loss is published again.
 */
export abstract class RecoveringChannel {
  /** Acks (and nacks) dropped because their delivery came before a recovery. */
  abstract staleAcks: number;

  /** Publishes sent again after a loss (each may be a duplicate). */
  abstract republished: number;

  /** @internal Opens the channel on the current connection. */
  abstract _open(): Promise<void>;

  /** Closes the channel; it is not restored any more. Interruption point. */
  abstract close(): Promise<void>;

  /** @internal Opens the channel on `g` and replays what it declared, then its consumers. */
  abstract _restore(g: Generation): Promise<void>;

  /** Declares an exchange (again on each recovery). Interruption point. */
  abstract exchangeDeclare(
    name: string,
    type?: string,
    options?: ExchangeDeclareOptions,
  ): Promise<void>;

  /**
   * Declares a queue (again on each recovery; a server-named one gets a new name, and the
   * first name keeps working). Interruption point.
   */
  abstract queueDeclare(
    name?: string,
    options?: QueueDeclareOptions,
  ): Promise<{ queue: string; messageCount: number; consumerCount: number }>;

  /** Binds a queue to an exchange (again on each recovery). Interruption point. */
  abstract queueBind(
    queue: string,
    exchange: string,
    routingKey?: string,
    args?: FieldTable,
  ): Promise<void>;

  /** Limits unacknowledged deliveries (again on each recovery). Interruption point. */
  abstract qos(prefetchCount: number): Promise<void>;

  /** Turns publisher confirms on (again on each recovery). Interruption point. */
  abstract confirmSelect(): Promise<void>;

  /**
   * Publishes; with confirms on, returns once the broker confirmed. Lost before the
   * confirm, the message is published again on the next connection (a possible
   * duplicate, counted in `republished`). Interruption point.
   * @throws {AmqpError} if the broker nacks it
   * @throws {ConfirmTimeoutError} if no confirm came in time on a live connection
   */
  abstract publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    properties?: MessageProperties,
    options?: { mandatory?: boolean },
  ): Promise<void>;

  /**
   * Starts a consumer on `queue`, resumed on each recovery. Interruption point.
   */
  abstract consume(
    queue: string,
    options?: { noAck?: boolean; exclusive?: boolean },
  ): Promise<RecoveringConsumer>;

  /** @internal */
  abstract _forget(consumer: RecoveringConsumer): void;

  /** @internal Waits for the next connection after `generation` was lost. */
  abstract _recovered(generation: number): Promise<void>;

  /**
   * Acknowledges a delivery. One that came before a recovery is not acked (the broker
   * delivers it again): counted in `staleAcks`. Interruption point.
   */
  abstract ack(delivery: RecoveringDelivery, multiple?: boolean): Promise<void>;

  /** Rejects a delivery, requeued by default (a stale one: as `ack`). Interruption point. */
  abstract nack(delivery: RecoveringDelivery, multiple?: boolean, requeue?: boolean): Promise<void>;
}

/** A consumer of a {@linkcode RecoveringChannel}: resumed after each recovery. */
export abstract class RecoveringConsumer {
  /** @internal Consumes on `ch` (a new connection's channel). */
  abstract _resume(ch: AmqpChannel, generation: number, names: Map<string, string>): Promise<void>;

  /**
   * The next delivery, or null once cancelled; across a loss it waits for the recovery
   * and goes on. Interruption point.
   * @throws the last error once recovery gave up; a channel error (404...) as it comes
   */
  abstract next(): Promise<RecoveringDelivery | null>;

  /** @internal Its channel was closed: it ends (next() returns null). */
  abstract _stop(): void;

  /** Stops consuming. Interruption point. */
  abstract cancel(): Promise<void>;

  /** Deliveries until cancelled. */
  abstract [Symbol.asyncIterator](): AsyncIterator<RecoveringDelivery>;
}
