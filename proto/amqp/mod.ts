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
export * from "./recovering.ts";
export * from "./url.ts";
// The wire codec stays internal (and loads with the first connect); only the types the
// client's API names are public.
export type { FieldTable, FieldValue, MessageProperties } from "./codec.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
