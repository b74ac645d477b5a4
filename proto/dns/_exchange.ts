/**
 * The code of ./exchange.ts, loaded by the first question.
 *
 * @module
 */

import { TimeoutError } from "../../core/errors.ts";
import { scheduler } from "../../core/scheduler.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import type { InetAddress } from "../../net/address.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo, udp6Socket, udpSocket } from "../../net/constructors.ts";
import {
  ConnectionRefusedError,
  EOFError,
  SocketError,
  UnsupportedOperationError,
} from "../../net/errors.ts";
import { MalformedPacketError, ServerFailureError, ServerUnreachableError } from "./errors.ts";
import {
  decodeMessage,
  type DnsMessage,
  encodeQuery,
  loadDnsCodec,
  normalizeName,
} from "./packet.ts";
import type { ExchangeOptions } from "./exchange.ts";

const ICMP_NOTICE = Symbol("dnsIcmpNoticeSaid");

/**
 * Said once per process when a query runs on the portable backend,
 * whose UDP sockets cannot see an ICMP port-unreachable.
 */
const PORTABLE_ICMP_NOTICE =
  "shrapnel DNS: on the portable (Deno) socket backend an ICMP port-unreachable is not seen " +
  "(Deno's UDP sockets cannot be connected, and Linux reports ICMP errors only to connected " +
  "ones): a nameserver whose port is closed costs the query timeout instead of failing at " +
  "once. Fix: the FFI backend (deno task build:ffi, run with --allow-ffi), which counts it " +
  "as a failure at once.";

/** Says {@linkcode PORTABLE_ICMP_NOTICE} on stderr, once per process. */
function noticePortableIcmp(): void {
  if (scheduler.slot(ICMP_NOTICE, () => false)) return;
  scheduler.setSlot(ICMP_NOTICE, true);
  console.error(PORTABLE_ICMP_NOTICE);
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

function answers(message: DnsMessage, id: number, qname: string, qtype: string): boolean {
  if (!message.response || message.id !== id || message.questions.length !== 1) return false;
  const q = message.questions[0];
  return normalizeName(q.name) === normalizeName(qname) && q.type === qtype;
}

/** {@linkcode exchange} of ./exchange.ts. */
export async function exchange(
  server: InetAddress,
  qname: string,
  qtype: string,
  options: ExchangeOptions = {},
): Promise<DnsMessage> {
  const timeout = options.timeout ?? 2;
  const id = randomId();
  await loadDnsCodec();
  const query = encodeQuery(id, qname, qtype, options.recursion ?? false, options.udpSize ?? 0);
  const socket = server.family === "ipv6" ? udp6Socket() : udpSocket();
  const receiveSize = Math.max(4096, options.udpSize ?? 0);
  let malformed: MalformedPacketError | null = null;
  let message: DnsMessage;
  try {
    socket.bind({ family: server.family, host: "", port: 0 }); // a random source port
    try {
      await socket.connect(server);
    } catch (e) {
      // Deno's UDP sockets cannot connect: senders are filtered below, ICMP errors unseen.
      if (!(e instanceof UnsupportedOperationError)) throw e;
      noticePortableIcmp();
    }
    await socket.sendTo(query, server);
    message = await withTimeout(timeout, async () => {
      for (;;) {
        // Room for what we advertised (servers must not send more, RFC 6891 6.2.5), not
        // 64 KiB a datagram: each forged datagram of a flood costs its buffer.
        const [data, from] = await socket.recvFrom(receiveSize);
        if (from.family === "unix" || from.host !== server.host || from.port !== server.port) {
          continue;
        }
        let decoded: DnsMessage;
        try {
          decoded = decodeMessage(data, qname, qtype);
        } catch (e) {
          if (e instanceof MalformedPacketError) {
            malformed = e;
            continue;
          }
          throw e;
        }
        if (answers(decoded, id, qname, qtype)) return decoded;
      }
    });
  } catch (e) {
    if (e instanceof TimeoutError) {
      throw malformed ??
        new ServerFailureError(
          qname,
          qtype,
          `no answer from ${server.host}:${server.port} in ${timeout} s`,
        );
    }
    if (e instanceof ConnectionRefusedError) {
      throw new ServerUnreachableError(
        qname,
        qtype,
        `${server.host}:${server.port}: port unreachable (${e.message})`,
      );
    }
    if (e instanceof SocketError) {
      throw new ServerFailureError(qname, qtype, `${server.host}:${server.port}: ${e.message}`);
    }
    throw e;
  } finally {
    socket.close();
  }
  if (message.truncated) return await exchangeTcp(server, qname, qtype, options);
  return message;
}

/** {@linkcode exchangeTcp} of ./exchange.ts. */
export async function exchangeTcp(
  server: InetAddress,
  qname: string,
  qtype: string,
  options: ExchangeOptions = {},
): Promise<DnsMessage> {
  const timeout = options.timeout ?? 2;
  const id = randomId();
  await loadDnsCodec();
  const query = encodeQuery(id, qname, qtype, options.recursion ?? false);
  const framed = new Uint8Array(query.length + 2);
  framed[0] = query.length >> 8;
  framed[1] = query.length & 0xff;
  framed.set(query, 2);
  try {
    return await withTimeout(timeout, async () => {
      const socket = await connectTo(server);
      try {
        await socket.send(framed);
        const reader = new SocketReader(socket, 4096);
        for (;;) {
          const length = await reader.readExact(2);
          const data = await reader.readExact((length[0] << 8) | length[1]);
          const message = decodeMessage(data, qname, qtype);
          if (answers(message, id, qname, qtype)) return message;
        }
      } finally {
        socket.close();
      }
    });
  } catch (e) {
    if (e instanceof TimeoutError || e instanceof SocketError || e instanceof EOFError) {
      throw new ServerFailureError(
        qname,
        qtype,
        `TCP to ${server.host}:${server.port}: ${(e as Error).message}`,
      );
    }
    throw e;
  }
}
