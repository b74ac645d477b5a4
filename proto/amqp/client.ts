/**
 * An AMQP 0-9-1 client (RabbitMQ's protocol) on shrapnel sockets, our own implementation:
 * connection and channels, exchange and queue declare/bind/delete, publish (with
 * publisher confirms), consume, get, ack/nack, qos, heartbeats, and an RPC helper on
 * direct reply-to. A reader thread per connection dispatches frames; every call that
 * waits is an interruption point.
 *
 * @module
 */

import { ProtocolError, ShrapnelError, TimeoutError } from "../../core/errors.ts";
import type { FieldTable, MessageProperties } from "./codec.ts";

import { loadOnce } from "../_load_once.ts";
import type { Method } from "./_client.ts";

/** The code, loaded by the first connect. */
const implementation = loadOnce(() => import("./_client.ts"), "the AMQP client");

/** Where and as whom. */
export interface AmqpOptions {
  /** Host ("127.0.0.1"). */
  host?: string;
  /** Port (5672). */
  port?: number;
  /** User ("guest"). */
  user?: string;
  /** Password ("guest"). */
  password?: string;
  /** Virtual host ("/"). */
  vhost?: string;
  /**
   * Heartbeat interval asked for, seconds (10; 0: none). The lower of ours and the
   * server's is agreed on; a server silent for two intervals is taken for gone (with the
   * default, a frozen broker is noticed within 20 s).
   */
  heartbeat?: number;
  /** Seconds a connect (TCP and the AMQP handshake) may take (10). */
  connectTimeoutSeconds?: number;
  /**
   * Seconds a send may wait for the broker to take our bytes (30): past it (a broker that
   * stopped reading, or one that blocks publishers for good) the connection fails with an
   * {@linkcode AmqpError} and is closed, for every caller.
   */
  sendTimeoutSeconds?: number;
  /**
   * Seconds a `publish` on a channel in confirm mode waits for the broker's ack (30):
   * past it, {@linkcode ConfirmTimeoutError} (the message may or may not be taken).
   */
  confirmTimeoutSeconds?: number;
  /**
   * The largest message body taken, bytes (16 MiB). A delivery whose content header
   * announces more (RabbitMQ lets publishers send up to 128 MiB, and a consumer with a
   * prefetch of hundreds would hold them all) is never buffered: its body frames are read
   * and discarded, it is rejected without requeue (`basic.reject`, so the queue's
   * dead-letter exchange gets it if it has one; nothing to reject for a `noAck` one),
   * consumers skip it, `get` throws {@linkcode AmqpMessageTooLargeError}, and
   * `onMessageDropped` reports it. The channel stays open.
   */
  maxMessageBytes?: number;
  /**
   * Called for each message dropped for exceeding `maxMessageBytes` (by the connection's
   * reader thread: it must not block). The default prints the first one of the
   * connection to stderr; all are counted in {@linkcode AmqpConnection.messagesDropped}.
   */
  onMessageDropped?: (error: AmqpMessageTooLargeError) => void;
}

/**
 * The peer sent bytes that are not AMQP 0-9-1 (bad frame end, cut short, unknown type):
 * a `ProtocolError` of protocol "amqp".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AmqpProtocolError } from "./client.ts";
 * assert.equal(new AmqpProtocolError("bad frame end").name, "AmqpProtocolError");
 * ```
 */
export class AmqpProtocolError extends ProtocolError {
  /**
   * Makes the error, of protocol "amqp".
   *
   * @param message what was wrong
   * @param options its cause
   */
  constructor(message?: string, options?: ErrorOptions) {
    super("amqp", message, options);
  }
}

/**
 * A publish in confirm mode got no ack or nack within `confirmTimeoutSeconds`: the broker
 * may or may not have taken the message (publish again only if duplicates are fine).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfirmTimeoutError } from "./client.ts";
 * assert.equal(new ConfirmTimeoutError(30) instanceof Error, true);
 * ```
 */
export class ConfirmTimeoutError extends TimeoutError {}

/**
 * The server closed a channel or the connection with an error (404 not found, 403 access
 * refused, 406 precondition failed...), or nacked a published message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AmqpError } from "./client.ts";
 * assert.deepEqual(new AmqpError(404, "NOT_FOUND - no queue 'x'").code, 404);
 * ```
 */
export class AmqpError extends ShrapnelError {
  /** The reply code. */
  readonly code: number;
  /**
   * Creates a {@linkcode AmqpError}.
   *
   * @param code reply code; @param text reply text; @param options its cause
   */
  constructor(code: number, text: string, options?: ErrorOptions) {
    super(`${code} ${text}`, options);
    this.code = code;
  }
}

/**
 * A message whose body exceeds `maxMessageBytes`: it was discarded unread and rejected
 * without requeue (dead-lettered if its queue has a dead-letter exchange).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AmqpError, AmqpMessageTooLargeError } from "./client.ts";
 * const e = new AmqpMessageTooLargeError(1_048_576, 1024, "q", "");
 * assert.equal(e instanceof AmqpError, true);
 * assert.equal(e.code, 311);
 * ```
 */
export class AmqpMessageTooLargeError extends AmqpError {
  /** The body size its content header announced, bytes. */
  readonly size: number;
  /** The limit, bytes. */
  readonly limit: number;
  /** Its routing key. */
  readonly routingKey: string;
  /** The consumer it came to ("" for a get). */
  readonly consumerTag: string;
  /**
   * Creates a {@linkcode AmqpMessageTooLargeError} (code 311, AMQP's content-too-large).
   *
   * @param size announced body size; @param limit the cap; @param routingKey its key;
   * @param consumerTag its consumer ("" for a get)
   */
  constructor(size: number, limit: number, routingKey: string, consumerTag: string) {
    super(
      311,
      `message of ${size} bytes (routing key ${JSON.stringify(routingKey)}) exceeds ` +
        `maxMessageBytes ${limit}: discarded and rejected without requeue`,
    );
    this.size = size;
    this.limit = limit;
    this.routingKey = routingKey;
    this.consumerTag = consumerTag;
  }
}

/** Options of `exchangeDeclare`. */
export interface ExchangeDeclareOptions {
  /** Survives a broker restart (false). */
  durable?: boolean;
  /** Deleted when its last binding goes (false). */
  autoDelete?: boolean;
  /** Only for other exchanges to publish to (false). */
  internal?: boolean;
  /** Extra arguments. */
  arguments?: FieldTable;
}

/** Options of `queueDeclare`. */
export interface QueueDeclareOptions {
  /** Survives a broker restart (false). */
  durable?: boolean;
  /** Only this connection may use it; deleted with it (false). */
  exclusive?: boolean;
  /** Deleted when its last consumer goes (false). */
  autoDelete?: boolean;
  /** Only checks that it exists (false). */
  passive?: boolean;
  /** Extra arguments. */
  arguments?: FieldTable;
}

/** A message for {@linkcode AmqpChannel.publishMany}. */
export interface OutgoingMessage {
  /** The exchange ("" for the default one). */
  exchange: string;
  /** Its routing key. */
  routingKey: string;
  /** Its body. */
  body: Uint8Array | string;
  /** Its properties. */
  properties?: MessageProperties;
  /** Returned if unroutable (the client drops returns: use confirms to learn of them). */
  mandatory?: boolean;
}

/** A message delivered (or got). */
export interface Delivery {
  /** The consumer it came to ("" for a get). */
  consumerTag: string;
  /** Its tag on the channel, for ack/nack. */
  deliveryTag: bigint;
  /** Whether it was delivered before. */
  redelivered: boolean;
  /** The exchange it was published to. */
  exchange: string;
  /** Its routing key. */
  routingKey: string;
  /** Its properties. */
  properties: MessageProperties;
  /** Its body. */
  body: Uint8Array;
}

/** Messages arriving for one consumer. */
export abstract class Consumer {
  /** The consumer tag. */
  abstract readonly tag: string;

  /** @internal Deliveries come acknowledged (nothing to reject). */
  abstract readonly _noAck: boolean;

  /** @internal */
  abstract _push(d: Delivery | null): void;

  /**
   * @internal The channel or connection failed: deliveries not yet handed out can no
   * longer be acked (the broker will deliver them again), so they are dropped, and the
   * next `next()` throws `error`.
   */
  abstract _fail(error: unknown): void;

  /**
   * The next delivery, or null once the consumer is cancelled. Interruption point.
   * Deliveries over the connection's `maxMessageBytes` are skipped (rejected, and
   * reported to its `onMessageDropped`).
   * @throws the channel's or connection's error when it failed (a broker gone is never
   *   taken for a normal end)
   */
  abstract next(): Promise<Delivery | null>;

  /** Stops consuming. */
  abstract cancel(): Promise<void>;

  /** Deliveries until cancelled. */
  abstract [Symbol.asyncIterator](): AsyncIterator<Delivery>;
}

/** A channel. */
export abstract class AmqpChannel {
  /** Its number. */
  abstract readonly id: number;

  /**
   * @internal A frame for this channel, from the reader thread; returns a frame the
   * reader must send back, if any (the reader sends it: a thread makes one blocking call
   * at a time).
   */
  abstract _frame(type: number, payload: Uint8Array): Uint8Array | undefined;

  /** @internal The channel or connection failed: everything waiting learns why. */
  abstract _fail(error: unknown): void;

  /**
   * Sends a method and waits for one of the replies `expect` (class*1000+method).
   * @ignore
   */
  abstract _call(
    classId: number,
    methodId: number,
    args: Uint8Array,
    expect: number[],
    locked?: () => void,
  ): Promise<Method>;

  /** Declares an exchange. Interruption point. @throws {AmqpError} e.g. 406 on a mismatch */
  abstract exchangeDeclare(
    name: string,
    type?: string,
    options?: ExchangeDeclareOptions,
  ): Promise<void>;

  /**
   * Declares a queue ("" for a server-named one). Interruption point.
   * @returns the queue's name and its message and consumer counts
   */
  abstract queueDeclare(
    name?: string,
    options?: QueueDeclareOptions,
  ): Promise<{ queue: string; messageCount: number; consumerCount: number }>;

  /** Binds a queue to an exchange. Interruption point. */
  abstract queueBind(
    queue: string,
    exchange: string,
    routingKey?: string,
    args?: FieldTable,
  ): Promise<void>;

  /**
   * Removes a binding made by {@linkcode queueBind} (same queue, exchange, key and
   * arguments). Interruption point.
   * Unbinding what is not bound is not an error (RabbitMQ 3.x+ also takes a queue or
   * exchange that does not exist).
   * @throws {AmqpError} if the broker refuses (e.g. 403 without permission)
   */
  abstract queueUnbind(
    queue: string,
    exchange: string,
    routingKey?: string,
    args?: FieldTable,
  ): Promise<void>;

  /** Deletes a queue; returns how many messages it held. Interruption point. */
  abstract queueDelete(queue: string): Promise<number>;

  /** Limits unacknowledged deliveries to this channel's consumers. */
  abstract qos(prefetchCount: number): Promise<void>;

  /** Turns publisher confirms on: each `publish` then waits for the server's ack. */
  abstract confirmSelect(): Promise<void>;

  /**
   * Puts the channel in transaction mode (AMQP `tx.select`): from now on its publishes
   * and acks/nacks take effect only at {@linkcode AmqpChannel.txCommit}, all together,
   * and {@linkcode AmqpChannel.txRollback} (or the channel or connection ending, e.g.
   * the process being killed) discards them: the messages published are never routed,
   * the deliveries acked stay unacked (and are delivered again once the channel ends).
   * Not with {@linkcode AmqpChannel.confirmSelect} on the same channel (the broker
   * refuses: 406). Interruption point.
   *
   * RabbitMQ applies a commit atomically per queue; a commit that touches several queues
   * is all-or-nothing against a client that dies (nothing is applied before the commit
   * frame has arrived whole), but not against the broker itself failing in the middle.
   *
   * @example
   * ```ts ignore
   * const ch = await amqp.channel();
   * await ch.txSelect();
   * await ch.publish("", "jobs", "one");
   * await ch.ack(delivery.deliveryTag);
   * await ch.txCommit(); // both happen, or (on a crash before this) neither
   * ```
   * @throws {AmqpError} 406 if the channel is in confirm mode
   */
  abstract txSelect(): Promise<void>;

  /**
   * Commits the transaction: every publish and ack since the last commit or rollback
   * takes effect; returns once the broker has applied them (`tx.commit-ok`). A new
   * transaction starts at once. Interruption point: an interrupted or failed commit
   * leaves it unknown whether it was applied (a process that must know starts again from
   * what the broker holds).
   * @throws {AmqpError} 406 if the channel is not in transaction mode
   */
  abstract txCommit(): Promise<void>;

  /**
   * Rolls the transaction back: the publishes since the last commit are dropped and the
   * acks forgotten (those deliveries stay unacked on this channel: nack them, or close
   * the channel, to have them delivered again). Interruption point.
   * @throws {AmqpError} 406 if the channel is not in transaction mode
   */
  abstract txRollback(): Promise<void>;

  /** Whether {@linkcode AmqpChannel.txSelect} put this channel in transaction mode. */
  abstract get transactional(): boolean;

  /**
   * Publishes a message. With confirms on, waits until the server has taken it.
   * Interruption point.
   * @throws {AmqpError} if the server nacks it, or the channel fails
   */
  abstract publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    properties?: MessageProperties,
    options?: { mandatory?: boolean },
  ): Promise<void>;

  /**
   * Publishes several messages in one write to the broker (one lock, one system call: a
   * frame's worth of small messages costs what one does). With confirms on, waits until
   * the server has taken them all. They go out in order; on a channel in a transaction
   * they take effect at the commit, as with `publish`. Interruption point.
   *
   * @example
   * ```ts ignore
   * await ch.publishMany([
   *   { exchange: "tiles", routingKey: "t.1.2", body: frameA },
   *   { exchange: "tiles", routingKey: "t.1.3", body: frameB },
   * ]);
   * ```
   * @throws {AmqpError} if the server nacks one, or the channel fails
   * @throws {ConfirmTimeoutError} if confirms are on and one is not confirmed in time
   */
  abstract publishMany(messages: readonly OutgoingMessage[]): Promise<void>;

  /** Starts a consumer on `queue`. Interruption point. */
  abstract consume(
    queue: string,
    options?: { noAck?: boolean; exclusive?: boolean; tag?: string },
  ): Promise<Consumer>;

  /** @internal */
  abstract _cancel(consumer: Consumer): Promise<void>;

  /**
   * Gets one message from `queue`, or null if it is empty. Interruption point.
   * @throws {AmqpMessageTooLargeError} if the message exceeds the connection's
   *   `maxMessageBytes` (it is discarded and rejected without requeue; the channel stays
   *   open, the next `get` gets the next message)
   */
  abstract get(queue: string, options?: { noAck?: boolean }): Promise<Delivery | null>;

  /** Acknowledges a delivery (and, with `multiple`, those before it). */
  abstract ack(deliveryTag: bigint, multiple?: boolean): Promise<void>;

  /** Rejects a delivery, requeued by default. */
  abstract nack(deliveryTag: bigint, multiple?: boolean, requeue?: boolean): Promise<void>;

  /**
   * Calls a service that answers on `reply_to` (RabbitMQ's direct reply-to): publishes
   * `body` to `exchange`/`routingKey` and waits for the reply with the same correlation
   * id. Interruption point; `timeout` seconds at most.
   */
  abstract rpc(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    timeout?: number,
  ): Promise<Delivery>;

  /** Closes the channel. */
  abstract close(): Promise<void>;
}

/**
 * An AMQP connection.
 *
 * @example
 * ```ts ignore
 * const amqp = await AmqpConnection.connect({ host: "127.0.0.1" });
 * const ch = await amqp.channel();
 * const { queue } = await ch.queueDeclare("", { exclusive: true });
 * await ch.publish("", queue, "hello");
 * console.log(new TextDecoder().decode((await ch.get(queue))!.body));
 * await amqp.close();
 * ```
 */
export abstract class AmqpConnection {
  /** The frame size agreed on. */
  abstract frameMax: number;

  /** The heartbeat interval agreed on, seconds. */
  abstract heartbeat: number;

  /** The largest message body taken, bytes (`AmqpOptions.maxMessageBytes`). */
  abstract maxMessageBytes: number;

  /** Messages dropped so far for exceeding `maxMessageBytes`. */
  abstract messagesDropped: number;

  /** @internal See {@linkcode AmqpOptions.confirmTimeoutSeconds}. */
  abstract confirmTimeoutSeconds: number;

  /** The server's properties (product, version, capabilities). */
  abstract serverProperties: FieldTable;

  /**
   * Connects and logs in (PLAIN). Interruption point.
   * @throws {AmqpError} 403 for bad credentials, or a refused vhost
   * @throws {TimeoutError} after `connectTimeoutSeconds` (10)
   */
  static async connect(options: AmqpOptions = {}): Promise<AmqpConnection> {
    return (await implementation()).AmqpConnectionImpl.connect(options);
  }

  /** Why the connection can no longer be used (null while it can). */
  abstract get failure(): unknown;

  /**
   * Waits until the connection fails (the broker gone, silent past the heartbeat, or
   * closed) and returns why. Interruption point.
   */
  abstract failed(): Promise<unknown>;

  /** @internal Sends frames; a broker that does not take them in time fails the connection. */
  abstract _send(bytes: Uint8Array): Promise<void>;

  /** @internal A message was dropped for its size: counts and reports it. */
  abstract _dropped(error: AmqpMessageTooLargeError): void;

  /** @internal */
  abstract _forget(channel: AmqpChannel): void;

  /** Opens a channel. Interruption point. */
  abstract channel(): Promise<AmqpChannel>;

  /**
   * Closes the connection: the close handshake (2 s at most for the server's answer),
   * then the socket; returns once its threads are gone. Interruption point.
   * @throws what the handshake met other than a peer that is gone or slow
   */
  abstract close(): Promise<void>;
}
