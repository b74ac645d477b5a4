/**
 * The implementation of ./client.ts, loaded by the first connect.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import { ClosedError, Shutdown, TimeoutError } from "../../core/errors.ts";
import { sleep } from "../../core/sleep.ts";
import { Fifo } from "../../core/sync/fifo.ts";
import { Latch } from "../../core/sync/latch.ts";
import { Mutex } from "../../core/sync/mutex.ts";
import { ThreadGroup } from "../../core/thread_group.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo } from "../../net/constructors.ts";
import { ConnectionResetError, EOFError, markPeerLost, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import {
  AmqpProtocolError,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  type FieldTable,
  FRAME_END,
  FrameType,
  type MessageProperties,
  Reader,
  Writer,
} from "./codec.ts";
import {
  AmqpChannel,
  AmqpConnection,
  AmqpError,
  AmqpMessageTooLargeError,
  type AmqpOptions,
  ConfirmTimeoutError,
  Consumer,
  type Delivery,
  type ExchangeDeclareOptions,
  type OutgoingMessage,
  type QueueDeclareOptions,
} from "./client.ts";

export type Method = { classId: number; methodId: number; args: Reader };
/** A failure reply; `once`: for this call only (the channel is fine). */
type Reply = Method | { error: unknown; once?: boolean };

const PROTOCOL_HEADER = new Uint8Array([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
const encoder = new TextEncoder();

function methodFrame(
  channel: number,
  classId: number,
  methodId: number,
  args: Uint8Array,
): Uint8Array {
  return encodeFrame(
    FrameType.method,
    channel,
    new Writer().u16(classId).u16(methodId).bytes(args).build(),
  );
}

/** The implementation of {@linkcode Consumer} ./client.ts. */
export class ConsumerImpl extends Consumer {
  /** The consumer tag. */
  readonly tag: string;
  /** @internal Deliveries come acknowledged (nothing to reject). */
  readonly _noAck: boolean;
  readonly #deliveries = new Fifo<Delivery | null>();
  readonly #channel: AmqpChannel;
  #ended = false;
  /** Why the consumer stopped other than by a cancel (its channel or connection failed). */
  #error: unknown = null;
  /** @internal */
  constructor(channel: AmqpChannel, tag: string, noAck = false) {
    super();
    this.#channel = channel;
    this.tag = tag;
    this._noAck = noAck;
  }
  /** @internal */
  _push(d: Delivery | null): void {
    if (d === null) this.#ended = true;
    this.#deliveries.push(d);
  }
  /**
   * @internal The channel or connection failed: deliveries not yet handed out can no
   * longer be acked (the broker will deliver them again), so they are dropped, and the
   * next `next()` throws `error`.
   */
  _fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error;
    this.#ended = true;
    this.#deliveries.push(null); // wakes a waiting next(), which throws
  }
  /**
   * The next delivery, or null once the consumer is cancelled. Interruption point.
   * Deliveries over the connection's `maxMessageBytes` are skipped (rejected, and
   * reported to its `onMessageDropped`).
   * @throws the channel's or connection's error when it failed (a broker gone is never
   *   taken for a normal end)
   */
  async next(): Promise<Delivery | null> {
    if (this.#error !== null) throw this.#error;
    if (this.#ended && this.#deliveries.length === 0) return null;
    const d = await this.#deliveries.pop();
    if (d === null && this.#error !== null) throw this.#error;
    return d;
  }
  /** Stops consuming. */
  cancel(): Promise<void> {
    return this.#channel._cancel(this);
  }
  /** Deliveries until cancelled. */
  async *[Symbol.asyncIterator](): AsyncIterator<Delivery> {
    for (;;) {
      const d = await this.next();
      if (d === null) return;
      yield d;
    }
  }
}

/** The implementation of {@linkcode AmqpChannel} ./client.ts. */
export class AmqpChannelImpl extends AmqpChannel {
  /** Its number. */
  readonly id: number;
  readonly #connection: AmqpConnection;
  readonly #replies = new Fifo<Reply>();
  readonly #lock = new Mutex();
  readonly #consumers = new Map<string, Consumer>();
  #error: unknown = null;
  #confirming = false;
  #transactional = false;
  #published = 0n;
  #confirms = new Map<bigint, Latch<boolean>>();
  #content: {
    method: Method;
    props?: MessageProperties;
    size: number;
    parts: Uint8Array[];
    got: number;
    /** Oversized: its body is discarded, then this frame (a reject, if any) is sent. */
    discard?: { reject: Uint8Array | undefined };
  } | null = null;
  /** Whether the `get` in progress (under the lock) asked for noAck. */
  #getNoAck = false;

  /** @internal */
  constructor(connection: AmqpConnection, id: number) {
    super();
    this.#connection = connection;
    this.id = id;
  }

  /**
   * @internal A frame for this channel, from the reader thread; returns a frame the
   * reader must send back, if any (the reader sends it: a thread makes one blocking call
   * at a time).
   */
  _frame(type: number, payload: Uint8Array): Uint8Array | undefined {
    if (type === FrameType.method) {
      const r = new Reader(payload);
      const m: Method = { classId: r.u16(), methodId: r.u16(), args: r };
      const key = m.classId * 1000 + m.methodId;
      if (key === 60060 || key === 60071 || key === 60050) { // deliver, get-ok, return: content follows
        this.#content = { method: m, size: 0, parts: [], got: 0 };
        return;
      }
      if (key === 60080 || key === 60120) { // ack, nack
        this.#confirmed(m, key === 60080);
        return;
      }
      if (key === 60030) { // the server cancelled a consumer
        const tag = m.args.shortstr();
        this.#consumers.get(tag)?._push(null);
        this.#consumers.delete(tag);
        return;
      }
      if (key === 20040) { // the server closes the channel
        const code = m.args.u16(), text = m.args.shortstr();
        this.#fail(new AmqpError(code, text));
        return methodFrame(this.id, 20, 41, new Uint8Array(0)); // close-ok
      }
      this.#replies.push(m);
      return;
    }
    const content = this.#content;
    if (content === null) {
      throw new AmqpProtocolError(`content frame without a method on channel ${this.id}`);
    }
    if (type === FrameType.header) {
      const h = decodeHeader(payload);
      content.props = h.properties;
      content.size = h.bodySize;
      const limit = this.#connection.maxMessageBytes;
      if (h.bodySize > limit) content.discard = { reject: this.#drop(content.method, h.bodySize) };
    } else if (content.discard !== undefined) {
      content.got += payload.length; // never held
    } else {
      content.parts.push(payload.slice());
      content.got += payload.length;
    }
    if (content.props !== undefined && content.got >= content.size) {
      this.#content = null;
      if (content.discard !== undefined) return content.discard.reject;
      this.#delivered(content.method, content.props, concatBytes(content.parts));
    }
  }

  /**
   * An oversized message: reports it (a get gets the error as its reply) and returns the
   * reject to send once its body is discarded (none for noAck deliveries and returns).
   */
  #drop(m: Method, size: number): Uint8Array | undefined {
    const r = m.args;
    let reject: Uint8Array | undefined;
    let error: AmqpMessageTooLargeError;
    const limit = this.#connection.maxMessageBytes;
    const rejectFrame = (tag: bigint) =>
      methodFrame(this.id, 60, 90, new Writer().u64(tag).bits(false).build());
    if (m.methodId === 60) { // deliver
      const consumerTag = r.shortstr(), deliveryTag = r.u64();
      r.bit();
      r.shortstr();
      const routingKey = r.shortstr();
      error = new AmqpMessageTooLargeError(size, limit, routingKey, consumerTag);
      if (!(this.#consumers.get(consumerTag)?._noAck ?? false)) reject = rejectFrame(deliveryTag);
    } else if (m.methodId === 71) { // get-ok
      const deliveryTag = r.u64();
      r.bit();
      r.shortstr();
      error = new AmqpMessageTooLargeError(size, limit, r.shortstr(), "");
      if (!this.#getNoAck) reject = rejectFrame(deliveryTag);
      this.#replies.push({ error, once: true });
    } else { // a return: nothing to reject
      r.u16();
      r.shortstr();
      r.shortstr();
      error = new AmqpMessageTooLargeError(size, limit, r.shortstr(), "");
    }
    this.#connection._dropped(error);
    return reject;
  }

  #delivered(m: Method, properties: MessageProperties, body: Uint8Array): void {
    const r = m.args;
    if (m.methodId === 60) {
      const d: Delivery = {
        consumerTag: r.shortstr(),
        deliveryTag: r.u64(),
        redelivered: r.bit(),
        exchange: r.shortstr(),
        routingKey: r.shortstr(),
        properties,
        body,
      };
      this.#consumers.get(d.consumerTag)?._push(d);
    } else if (m.methodId === 71) {
      const d: Delivery = {
        consumerTag: "",
        deliveryTag: r.u64(),
        redelivered: r.bit(),
        exchange: r.shortstr(),
        routingKey: r.shortstr(),
        properties,
        body,
      };
      r.u32();
      this.#replies.push({ ...m, args: new Reader(new Uint8Array(0)), delivery: d } as Method);
    } // returns (mandatory, unroutable) are dropped: publish with confirms to learn of them
  }

  #confirmed(m: Method, ok: boolean): void {
    const tag = BigInt.asUintN(64, m.args.u64());
    const multiple = m.args.bit();
    for (const [seq, latch] of this.#confirms) {
      if (seq === tag || (multiple && seq < tag)) {
        latch.release(ok);
        this.#confirms.delete(seq);
      }
    }
  }

  /** @internal The channel or connection failed: everything waiting learns why. */
  _fail(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): void {
    if (this.#error !== null) return;
    this.#error = error;
    this.#replies.push({ error });
    for (const c of this.#consumers.values()) c._fail(error);
    this.#consumers.clear();
    for (const latch of this.#confirms.values()) latch.release(false);
    this.#confirms.clear();
    this.#connection._forget(this);
  }

  /**
   * Sends a method and waits for one of the replies `expect` (class*1000+method).
   * @ignore
   */
  async _call(
    classId: number,
    methodId: number,
    args: Uint8Array,
    expect: number[],
    locked?: () => void,
  ): Promise<Method> {
    if (this.#error !== null) throw this.#error;
    const guard = await this.#lock.lock();
    try {
      locked?.();
      await this.#connection._send(methodFrame(this.id, classId, methodId, args));
      if (expect.length === 0) return { classId, methodId, args: new Reader(new Uint8Array(0)) };
      const reply = await this.#replies.pop();
      if ("error" in reply) {
        if (!reply.once) this.#replies.push(reply); // later calls see it too
        throw reply.error;
      }
      const key = reply.classId * 1000 + reply.methodId;
      if (!expect.includes(key)) {
        throw new AmqpProtocolError(`unexpected method ${reply.classId}.${reply.methodId}`);
      }
      return reply;
    } finally {
      guard[Symbol.dispose]();
    }
  }

  /** Declares an exchange. Interruption point. @throws {AmqpError} e.g. 406 on a mismatch */
  async exchangeDeclare(
    name: string,
    type = "direct",
    options: ExchangeDeclareOptions = {},
  ): Promise<void> {
    const args = new Writer().u16(0).shortstr(name).shortstr(type)
      .bits(
        false,
        options.durable ?? false,
        options.autoDelete ?? false,
        options.internal ?? false,
        false,
      )
      .table(options.arguments).build();
    await this._call(40, 10, args, [40011]);
  }

  /**
   * Declares a queue ("" for a server-named one). Interruption point.
   * @returns the queue's name and its message and consumer counts
   */
  async queueDeclare(
    name = "",
    options: QueueDeclareOptions = {},
  ): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const args = new Writer().u16(0).shortstr(name)
      .bits(
        options.passive ?? false,
        options.durable ?? false,
        options.exclusive ?? false,
        options.autoDelete ?? false,
        false,
      )
      .table(options.arguments).build();
    const r = (await this._call(50, 10, args, [50011])).args;
    return { queue: r.shortstr(), messageCount: r.u32(), consumerCount: r.u32() };
  }

  /** Binds a queue to an exchange. Interruption point. */
  async queueBind(
    queue: string,
    exchange: string,
    routingKey = "",
    args: FieldTable = {},
  ): Promise<void> {
    await this._call(
      50,
      20,
      new Writer().u16(0).shortstr(queue).shortstr(exchange).shortstr(routingKey).bits(false).table(
        args,
      ).build(),
      [50021],
    );
  }

  /**
   * Removes a binding made by {@linkcode queueBind} (same queue, exchange, key and
   * arguments). Interruption point.
   * Unbinding what is not bound is not an error (RabbitMQ 3.x+ also takes a queue or
   * exchange that does not exist).
   * @throws {AmqpError} if the broker refuses (e.g. 403 without permission)
   */
  async queueUnbind(
    queue: string,
    exchange: string,
    routingKey = "",
    args: FieldTable = {},
  ): Promise<void> {
    await this._call(
      50,
      50,
      new Writer().u16(0).shortstr(queue).shortstr(exchange).shortstr(routingKey).table(args)
        .build(),
      [50051],
    );
  }

  /** Deletes a queue; returns how many messages it held. Interruption point. */
  async queueDelete(queue: string): Promise<number> {
    const r = await this._call(
      50,
      40,
      new Writer().u16(0).shortstr(queue).bits(false, false, false).build(),
      [50041],
    );
    return r.args.u32();
  }

  /** Limits unacknowledged deliveries to this channel's consumers. */
  async qos(prefetchCount: number): Promise<void> {
    await this._call(60, 10, new Writer().u32(0).u16(prefetchCount).bits(false).build(), [60011]);
  }

  /** Turns publisher confirms on: each `publish` then waits for the server's ack. */
  async confirmSelect(): Promise<void> {
    await this._call(85, 10, new Writer().bits(false).build(), [85011]);
    this.#confirming = true;
  }

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
  async txSelect(): Promise<void> {
    await this._call(90, 10, new Uint8Array(0), [90011]);
    this.#transactional = true;
  }

  /**
   * Commits the transaction: every publish and ack since the last commit or rollback
   * takes effect; returns once the broker has applied them (`tx.commit-ok`). A new
   * transaction starts at once. Interruption point: an interrupted or failed commit
   * leaves it unknown whether it was applied (a process that must know starts again from
   * what the broker holds).
   * @throws {AmqpError} 406 if the channel is not in transaction mode
   */
  async txCommit(): Promise<void> {
    await this._call(90, 20, new Uint8Array(0), [90021]);
  }

  /**
   * Rolls the transaction back: the publishes since the last commit are dropped and the
   * acks forgotten (those deliveries stay unacked on this channel: nack them, or close
   * the channel, to have them delivered again). Interruption point.
   * @throws {AmqpError} 406 if the channel is not in transaction mode
   */
  async txRollback(): Promise<void> {
    await this._call(90, 30, new Uint8Array(0), [90031]);
  }

  /** Whether {@linkcode AmqpChannel.txSelect} put this channel in transaction mode. */
  get transactional(): boolean {
    return this.#transactional;
  }

  /**
   * Publishes a message. With confirms on, waits until the server has taken it.
   * Interruption point.
   * @throws {AmqpError} if the server nacks it, or the channel fails
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    properties: MessageProperties = {},
    options: { mandatory?: boolean } = {},
  ): Promise<void> {
    await this.publishMany([{ exchange, routingKey, body, properties, ...options }]);
  }

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
  async publishMany(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#error !== null) throw this.#error;
    if (messages.length === 0) return;
    const frames: Uint8Array[] = [];
    const max = this.#connection.frameMax - 8;
    for (const m of messages) {
      const bytes = typeof m.body === "string" ? encoder.encode(m.body) : m.body;
      frames.push(
        methodFrame(
          this.id,
          60,
          40,
          new Writer().u16(0).shortstr(m.exchange).shortstr(m.routingKey).bits(
            m.mandatory ?? false,
            false,
          ).build(),
        ),
        encodeFrame(FrameType.header, this.id, encodeHeader(60, bytes.length, m.properties ?? {})),
      );
      for (let at = 0; at < bytes.length; at += max) {
        frames.push(encodeFrame(FrameType.body, this.id, bytes.subarray(at, at + max)));
      }
    }
    let latches: Latch<boolean>[] | null = null;
    const guard = await this.#lock.lock();
    // Numbered under the lock, in the order they are written (the broker numbers them
    // so): a publish interrupted before it holds the lock takes no number.
    const first = this.#published + 1n;
    try {
      if (this.#confirming) {
        latches = [];
        for (let i = 0; i < messages.length; i++) {
          const latch = new Latch<boolean>();
          this.#confirms.set(++this.#published, latch);
          latches.push(latch);
        }
      }
      await this.#connection._send(concatBytes(frames));
    } catch (e) {
      if (latches !== null && this.#error === null) {
        // Not sent (a send cut short fails the connection): the numbers are given back.
        for (let n = first; n <= this.#published; n++) this.#confirms.delete(n);
        this.#published = first - 1n;
      }
      throw e;
    } finally {
      guard[Symbol.dispose]();
    }
    if (latches === null) return;
    const seconds = this.#connection.confirmTimeoutSeconds;
    let acked = true;
    try {
      await withTimeout(seconds, async () => {
        for (const latch of latches) if (!await latch.wait()) acked = false;
      });
    } catch (e) {
      if (e instanceof TimeoutError && !(e instanceof ConfirmTimeoutError)) {
        throw new ConfirmTimeoutError(seconds);
      }
      throw e;
    }
    if (!acked) throw this.#error ?? new AmqpError(0, "the server nacked a message");
  }

  /** Starts a consumer on `queue`. Interruption point. */
  async consume(
    queue: string,
    options: { noAck?: boolean; exclusive?: boolean; tag?: string } = {},
  ): Promise<ConsumerImpl> {
    const args = new Writer().u16(0).shortstr(queue).shortstr(options.tag ?? "")
      .bits(false, options.noAck ?? false, options.exclusive ?? false, false).table({}).build();
    const guardless = await this._call(60, 20, args, [60021]);
    const tag = guardless.args.shortstr();
    const consumer = new ConsumerImpl(this, tag, options.noAck ?? false);
    this.#consumers.set(tag, consumer);
    return consumer;
  }

  /** @internal */
  async _cancel(consumer: Consumer): Promise<void> {
    await this._call(60, 30, new Writer().shortstr(consumer.tag).bits(false).build(), [60031]);
    this.#consumers.delete(consumer.tag);
    consumer._push(null);
  }

  /**
   * Gets one message from `queue`, or null if it is empty. Interruption point.
   * @throws {AmqpMessageTooLargeError} if the message exceeds the connection's
   *   `maxMessageBytes` (it is discarded and rejected without requeue; the channel stays
   *   open, the next `get` gets the next message)
   */
  async get(queue: string, options: { noAck?: boolean } = {}): Promise<Delivery | null> {
    const noAck = options.noAck ?? false;
    const r = await this._call(
      60,
      70,
      new Writer().u16(0).shortstr(queue).bits(noAck).build(),
      [60071, 60072],
      () => this.#getNoAck = noAck,
    );
    return r.methodId === 72 ? null : (r as Method & { delivery: Delivery }).delivery;
  }

  /** Acknowledges a delivery (and, with `multiple`, those before it). */
  async ack(deliveryTag: bigint, multiple = false): Promise<void> {
    await this._call(60, 80, new Writer().u64(deliveryTag).bits(multiple).build(), []);
  }

  /** Rejects a delivery, requeued by default. */
  async nack(deliveryTag: bigint, multiple = false, requeue = true): Promise<void> {
    await this._call(60, 120, new Writer().u64(deliveryTag).bits(multiple, requeue).build(), []);
  }

  /**
   * Calls a service that answers on `reply_to` (RabbitMQ's direct reply-to): publishes
   * `body` to `exchange`/`routingKey` and waits for the reply with the same correlation
   * id. Interruption point; `timeout` seconds at most.
   */
  async rpc(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    timeout = 10,
  ): Promise<Delivery> {
    const replies = await this.consume("amq.rabbitmq.reply-to", { noAck: true });
    let reply: Delivery;
    try {
      const correlationId = crypto.randomUUID();
      await this.publish(exchange, routingKey, body, {
        replyTo: "amq.rabbitmq.reply-to",
        correlationId,
      });
      reply = await withTimeout(timeout, async () => {
        for (;;) {
          const d = await replies.next();
          if (d === null) throw new ClosedError("the reply consumer was cancelled");
          if (d.properties.correlationId === correlationId) return d;
        }
      });
    } catch (e) {
      try {
        await replies.cancel();
      } catch (cancelError) {
        // The call's own error is the one its caller sees. A channel that cannot even
        // cancel a consumer is failed with this error, so that later callers see it.
        this.#fail(cancelError);
      }
      throw e;
    }
    await replies.cancel();
    return reply;
  }

  /** Closes the channel. */
  async close(): Promise<void> {
    if (this.#error !== null) return;
    try {
      await this._call(20, 40, new Writer().u16(200).shortstr("bye").u16(0).u16(0).build(), [
        20041,
      ]);
    } catch (e) {
      // A channel failed meanwhile (with its connection) is closed: its callers got that
      // error. Anything else is news.
      if (this.#error === null) {
        this.#fail(new ClosedError(`channel ${this.id} closed`));
        throw e;
      }
    }
    this.#fail(new ClosedError(`channel ${this.id} closed`));
  }
}

/** The implementation of {@linkcode AmqpConnection} ./client.ts. */
export class AmqpConnectionImpl extends AmqpConnection {
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #writeLock = new Mutex();
  readonly #channels = new Map<number, AmqpChannel>();
  readonly #connectionReplies = new Fifo<Reply>();
  #nextChannel = 1;
  /**
   * The reader and heartbeat threads, children of the thread that connected: they stop
   * with it, and an unexpected error of theirs goes to the thread error hook.
   */
  readonly #threads = new ThreadGroup({ name: "amqp connection", childErrors: "report" });
  #error: unknown = null;
  readonly #failed = new Latch<unknown>();
  #lastReceived = performance.now();
  /** The frame size agreed on. */
  frameMax = 131072;
  /** The heartbeat interval agreed on, seconds. */
  heartbeat = 0;
  /** The largest message body taken, bytes (`AmqpOptions.maxMessageBytes`). */
  maxMessageBytes = 16 * 1024 * 1024;
  /** Messages dropped so far for exceeding `maxMessageBytes`. */
  messagesDropped = 0;
  #onMessageDropped: ((error: AmqpMessageTooLargeError) => void) | undefined;
  /** @internal See {@linkcode AmqpOptions.confirmTimeoutSeconds}. */
  confirmTimeoutSeconds = 30;
  #sendTimeoutSeconds = 30;
  /** The server's properties (product, version, capabilities). */
  serverProperties: FieldTable = {};

  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    this.#reader = new SocketReader(socket, 65536);
  }

  /**
   * Connects and logs in (PLAIN). Interruption point.
   * @throws {AmqpError} 403 for bad credentials, or a refused vhost
   * @throws {TimeoutError} after `connectTimeoutSeconds` (10)
   */
  static override async connect(options: AmqpOptions = {}): Promise<AmqpConnectionImpl> {
    const host = options.host ?? "127.0.0.1";
    const seconds = options.connectTimeoutSeconds ?? 10;
    const socket = await withTimeout(
      seconds,
      connectTo,
      `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 5672}`,
    );
    const c = new AmqpConnectionImpl(socket);
    c.confirmTimeoutSeconds = options.confirmTimeoutSeconds ?? 30;
    c.#sendTimeoutSeconds = options.sendTimeoutSeconds ?? 30;
    const maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    if (!(maxMessageBytes >= 0)) throw new RangeError(`maxMessageBytes ${maxMessageBytes} < 0`);
    c.maxMessageBytes = maxMessageBytes;
    c.#onMessageDropped = options.onMessageDropped;
    try {
      await withTimeout(seconds, () => c.#open(options));
    } catch (e) {
      socket.close();
      c.#threads.shutdown();
      await c.#threads.join();
      throw e;
    }
    return c;
  }

  async #frame(): Promise<{ type: number; channel: number; payload: Uint8Array }> {
    const head = await this.#reader.readExact(7);
    const v = new DataView(head.buffer, head.byteOffset, 7);
    const type = head[0], channel = v.getUint16(1), size = v.getUint32(3);
    if (size > this.frameMax + 8 && size > 131072) {
      throw new AmqpProtocolError(`frame of ${size} bytes over the limit`);
    }
    const payload = await this.#reader.readExact(size + 1);
    if (payload[size] !== FRAME_END) throw new AmqpProtocolError("bad frame end");
    if (type !== 1 && type !== 2 && type !== 3 && type !== 8) {
      throw new AmqpProtocolError(`unknown frame type ${type}`);
    }
    this.#lastReceived = performance.now();
    return { type, channel, payload: payload.subarray(0, size) };
  }

  async #connectionMethod(expect: number): Promise<Reader> {
    for (;;) {
      const f = await this.#frame();
      if (f.type !== FrameType.method || f.channel !== 0) continue;
      const r = new Reader(f.payload);
      const key = r.u16() * 1000 + r.u16();
      if (key === 10050) {
        const code = r.u16(), text = r.shortstr();
        throw new AmqpError(code, text);
      }
      if (key !== expect) throw new AmqpProtocolError(`expected method ${expect}, got ${key}`);
      return r;
    }
  }

  async #open(options: AmqpOptions): Promise<void> {
    await this.#socket.send(PROTOCOL_HEADER);
    const start = await this.#connectionMethod(10010);
    start.u8();
    start.u8();
    this.serverProperties = start.table();
    const mechanisms = start.longstr().split(" ");
    if (!mechanisms.includes("PLAIN")) {
      throw new AmqpProtocolError(`no PLAIN login (server offers ${mechanisms.join(", ")})`);
    }
    const user = options.user ?? "guest", password = options.password ?? "guest";
    const response = encoder.encode(`\0${user}\0${password}`);
    await this._send(methodFrame(
      0,
      10,
      11,
      new Writer()
        .table({
          product: "shrapnel-deno",
          capabilities: {
            publisher_confirms: true,
            consumer_cancel_notify: true,
            authentication_failure_close: true, // a refused login says so (403), not a reset
          },
        })
        .shortstr("PLAIN").longstr(response).shortstr("en_US").build(),
    ));
    const tune = await this.#connectionMethod(10030);
    const channelMax = tune.u16(), frameMax = tune.u32(), serverHeartbeat = tune.u16();
    this.frameMax = Math.min(frameMax || 131072, 131072);
    const asked = options.heartbeat ?? 10;
    this.heartbeat = asked === 0 || serverHeartbeat === 0
      ? Math.max(asked, serverHeartbeat)
      : Math.min(asked, serverHeartbeat);
    await this._send(
      methodFrame(
        0,
        10,
        31,
        new Writer().u16(channelMax || 2047).u32(this.frameMax).u16(this.heartbeat).build(),
      ),
    );
    await this._send(
      methodFrame(
        0,
        10,
        40,
        new Writer().shortstr(options.vhost ?? "/").shortstr("").bits(false).build(),
      ),
    );
    await this.#connectionMethod(10041);
    this.#threads.spawn({ name: "amqp reader" }, () => this.#read());
    if (this.heartbeat > 0) this.#threads.spawn({ name: "amqp heartbeat" }, () => this.#beat());
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const f = await this.#frame();
        if (f.type === FrameType.heartbeat) continue;
        if (f.channel === 0) {
          const r = new Reader(f.payload);
          const key = r.u16() * 1000 + r.u16();
          if (key === 10050) {
            const code = r.u16(), text = r.shortstr();
            try {
              await this._send(methodFrame(0, 10, 51, new Uint8Array(0))); // close-ok
            } catch (sendError) {
              throw new AmqpError(code, text, { cause: sendError });
            }
            throw new AmqpError(code, text);
          }
          this.#connectionReplies.push({
            classId: Math.floor(key / 1000),
            methodId: key % 1000,
            args: r,
          });
          continue;
        }
        const reply = this.#channels.get(f.channel)?._frame(f.type, f.payload);
        if (reply !== undefined) await this._send(reply);
      }
    } catch (e) {
      this.#failAll(
        e instanceof ClosedError
          ? new ClosedError("the connection is closed")
          : e instanceof Shutdown
          ? new ClosedError("the connection's threads were shut down", { cause: e })
          : e instanceof EOFError || e instanceof ConnectionResetError
          // Every call on the connection gets this one error: its operation is the connection.
          ? markPeerLost(e, "amqp", "connection")
          : e,
      );
    }
  }

  async #beat(): Promise<void> {
    const interval = this.heartbeat;
    for (;;) {
      await sleep(interval / 2);
      if (performance.now() - this.#lastReceived > interval * 2000) {
        this.#failAll(
          markPeerLost(
            new AmqpError(0, `no heartbeat from the server in ${interval * 2} s`),
            "amqp",
            "heartbeat",
          ),
        );
        this.#socket.close();
        return;
      }
      try {
        await this._send(encodeFrame(FrameType.heartbeat, 0, new Uint8Array(0)));
      } catch (e) {
        if (e instanceof Shutdown) throw e;
        this.#failAll(e); // the connection is broken: every caller gets the error
        this.#socket.close();
        return;
      }
    }
  }

  /** Why the connection can no longer be used (null while it can). */
  get failure(): unknown {
    return this.#error;
  }

  /**
   * Waits until the connection fails (the broker gone, silent past the heartbeat, or
   * closed) and returns why. Interruption point.
   */
  failed(): Promise<unknown> {
    return this.#failed.wait();
  }

  /**
   * Fails every call on the connection with `error`: an {@linkcode EOFError} or
   * {@linkcode ConnectionResetError} (the broker went away) or a heartbeat timeout is also a
   * {@linkcode PeerLostError} (operation "connection" or "heartbeat").
   */
  #failAll(error: unknown): void {
    if (this.#error !== null) return;
    this.#error = error;
    this.#failed.release(error);
    for (const ch of [...this.#channels.values()]) ch._fail(error);
    this.#connectionReplies.push({ error });
  }

  /** @internal Sends frames; a broker that does not take them in time fails the connection. */
  async _send(bytes: Uint8Array): Promise<void> {
    if (this.#error !== null) throw this.#error;
    const guard = await this.#writeLock.lock();
    try {
      const seconds = this.#sendTimeoutSeconds;
      await withTimeout(seconds, () => this.#socket.send(bytes));
    } catch (e) {
      if (!(e instanceof TimeoutError) || e instanceof ConfirmTimeoutError) throw e;
      // Part of a frame may be out: the connection cannot carry another one.
      const error = new AmqpError(0, `the broker took no bytes for ${e.seconds} s`, { cause: e });
      this.#failAll(error);
      this.#socket.close();
      throw error;
    } finally {
      guard[Symbol.dispose]();
    }
  }

  /** @internal A message was dropped for its size: counts and reports it. */
  _dropped(error: AmqpMessageTooLargeError): void {
    this.messagesDropped++;
    if (this.#onMessageDropped !== undefined) this.#onMessageDropped(error);
    else if (this.messagesDropped === 1) {
      console.error(
        `shrapnel amqp: ${error.message} (further ones are counted in ` +
          "AmqpConnection.messagesDropped; pass onMessageDropped to report them)",
      );
    }
  }

  /** @internal */
  _forget(channel: AmqpChannel): void {
    this.#channels.delete(channel.id);
  }

  /** Opens a channel. Interruption point. */
  async channel(): Promise<AmqpChannelImpl> {
    if (this.#error !== null) throw this.#error;
    const id = this.#nextChannel++;
    const ch = new AmqpChannelImpl(this, id);
    this.#channels.set(id, ch);
    await ch._call(20, 10, new Writer().shortstr("").build(), [20011]);
    return ch;
  }

  /**
   * Closes the connection: the close handshake (2 s at most for the server's answer),
   * then the socket; returns once its threads are gone. Interruption point.
   * @throws what the handshake met other than a peer that is gone or slow
   */
  async close(): Promise<void> {
    try {
      if (this.#error === null) {
        await this._send(
          methodFrame(0, 10, 50, new Writer().u16(200).shortstr("bye").u16(0).u16(0).build()),
        );
        await withTimeout(2, () => this.#connectionReplies.pop());
      }
    } catch (e) {
      // The handshake is a courtesy: a server that is gone or slow does not stop the close.
      const peerGone = e instanceof SocketError || e instanceof EOFError ||
        e instanceof ClosedError || e instanceof TimeoutError || this.#error !== null;
      if (!peerGone) throw e;
    } finally {
      this.#failAll(new ClosedError("the connection is closed"));
      this.#threads.shutdown();
      this.#socket.close();
      await this.#threads.join();
    }
  }
}
