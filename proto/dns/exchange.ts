/**
 * One DNS question to one server: UDP from a fresh random port with a random id, the
 * answer checked against the question, TCP when the answer is truncated.
 *
 * @module
 */

import type { InetAddress } from "../../net/address.ts";
import { loadOnce } from "../_load_once.ts";
import type { DnsMessage } from "./packet.ts";

/** The code, loaded by the first question. */
const implementation = loadOnce(() => import("./_exchange.ts"), "DNS exchange");

/** How to ask. */
export interface ExchangeOptions {
  /** Seconds to wait for the answer (2). */
  timeout?: number;
  /** Set RD (ask the server to recurse): stub and forward modes. */
  recursion?: boolean;
  /** EDNS0 UDP payload size to advertise (0: no EDNS, answers over 512 bytes truncate). */
  udpSize?: number;
}

/**
 * Asks `server` one question. Replies that do not match (another id, another question,
 * another sender, not a response) are ignored, as spoofing attempts are; undecodable ones
 * too, but if nothing better comes the error says so.
 *
 * The query socket is connected to the server where the backend can (FFI): the kernel then
 * drops datagrams from anyone else, and an ICMP port-unreachable ends the wait at once. On
 * the portable backend it cannot be (Deno 2.9's UDP sockets have no `connect`; `node:dgram`'s
 * `connect` does not surface ICMP errors either): replies from other senders are dropped
 * here instead, an unreachable port costs the timeout, and the first such query says so
 * once per process on stderr, with the fix.
 *
 * Interruption point.
 * @throws {ServerUnreachableError} when the server's port is unreachable (FFI backend)
 * @throws {ServerFailureError} on timeout (message says which server)
 * @throws {MalformedPacketError} if only undecodable replies came
 */
export async function exchange(
  server: InetAddress,
  qname: string,
  qtype: string,
  options: ExchangeOptions = {},
): Promise<DnsMessage> {
  return (await implementation()).exchange(server, qname, qtype, options);
}

/**
 * Asks over TCP (two-byte length prefix): after a truncated UDP answer.
 *
 * Interruption point.
 */
export async function exchangeTcp(
  server: InetAddress,
  qname: string,
  qtype: string,
  options: ExchangeOptions = {},
): Promise<DnsMessage> {
  return (await implementation()).exchangeTcp(server, qname, qtype, options);
}
