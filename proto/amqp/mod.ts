/**
 * AMQP 0-9-1 on shrapnel sockets: channels, declare/bind, publish with confirms,
 * consume, get, ack, heartbeats, RPC over direct reply-to.
 *
 * @example
 * ```ts ignore
 * import { AmqpConnection } from "./mod.ts";
 * const amqp = await AmqpConnection.connect();
 * const ch = await amqp.channel();
 * await ch.publish("", "jobs", "hello");
 * await amqp.close();
 * ```
 *
 * @module
 */

export * from "./client.ts";
export * from "./codec.ts";
export * from "./recovering.ts";
