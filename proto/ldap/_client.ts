/**
 * The implementation of ./client.ts's {@linkcode LdapClient}, loaded by its first connect.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import type * as Asn1 from "asn1js";
import { asn1js, loadAsn1 } from "./_asn1.ts";
import { ClosedError } from "../../core/errors.ts";
import { ConnectionResetError, EOFError, markPeerLost, SocketError } from "../../net/errors.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo } from "../../net/constructors.ts";
import type { Socket } from "../../net/socket.ts";
import { startTls } from "../../net/tls.ts";
import { type Filter, parseFilter } from "./filter.ts";
import {
  type LdapChange,
  type LdapEntry,
  LdapError,
  type LdapOptions,
  LdapProtocolError,
  type LdapScope,
} from "./client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STARTTLS_OID = "1.3.6.1.4.1.1466.20037";

const octets = (v: string | Uint8Array) =>
  new asn1js.OctetString({ valueHex: typeof v === "string" ? encoder.encode(v) : v });
const app = (n: number, value: Asn1.AsnType[]) =>
  new asn1js.Constructed({ idBlock: { tagClass: 2, tagNumber: n }, value });

type Element = Asn1.AsnType & {
  idBlock: { tagClass: number; tagNumber: number; isConstructed: boolean };
  valueBlock: {
    value?: Element[];
    valueHexView?: Uint8Array;
    valueDec?: number;
    valueHex?: ArrayBuffer;
  };
};

function children(e: Element): Element[] {
  const v = e.valueBlock.value;
  if (!Array.isArray(v)) throw new LdapProtocolError("expected a constructed element");
  return v;
}

function bytesOf(e: Element): Uint8Array {
  if (e.idBlock.isConstructed) {
    // A constructed OCTET STRING (legal BER): its pieces joined.
    return concatBytes(children(e).map(bytesOf));
  }
  const view = e.valueBlock.valueHexView;
  if (view === undefined) throw new LdapProtocolError("expected a primitive element");
  return view;
}

function text(e: Element): string {
  return decoder.decode(bytesOf(e));
}

function integer(e: Element): number {
  const raw = bytesOf(e);
  if (raw.length === 0 || raw.length > 6) throw new LdapProtocolError("bad integer");
  let v = raw[0] & 0x80 ? -1 : 0;
  for (const b of raw) v = v * 256 + b;
  return v;
}

/** The fields of an LDAPResult. */
function result(op: Element): { code: number; matched: string; message: string } {
  const parts = children(op);
  if (parts.length < 3) throw new LdapProtocolError("short LDAPResult");
  return { code: integer(parts[0]), matched: text(parts[1]), message: text(parts[2]) };
}

/**
 * Decodes one LDAPMessage from its BER bytes: [message id, the operation element].
 * @throws {LdapProtocolError} if it is not one
 */
export function decodeMessage(bytes: Uint8Array): { id: number; op: Element } {
  return structural(() => decodeUnchecked(bytes));
}

/** Runs `read` over decoded elements; anything malformed becomes an LdapProtocolError. */
function structural<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof LdapProtocolError || e instanceof LdapError) throw e;
    throw new LdapProtocolError(`malformed message: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeUnchecked(bytes: Uint8Array): { id: number; op: Element } {
  const decoded = asn1js.fromBER(bytes);
  if (decoded.offset === -1) {
    throw new LdapProtocolError(`undecodable BER: ${decoded.result.error}`);
  }
  const message = decoded.result as Element;
  if (message.idBlock.tagClass !== 1 || message.idBlock.tagNumber !== 16) {
    throw new LdapProtocolError("an LDAPMessage is a SEQUENCE");
  }
  const [id, op] = children(message);
  if (id === undefined || op === undefined) throw new LdapProtocolError("short LDAPMessage");
  if (op.idBlock.tagClass !== 2) {
    throw new LdapProtocolError("the operation is not [APPLICATION n]");
  }
  return { id: integer(id), op };
}

/** The connection is gone (reset, closed): nothing more to tell the server. */
const isBroken = (e: unknown) => e instanceof SocketError || e instanceof ClosedError;

/** The operation names of the responses, for {@linkcode PeerLostError}. */
const OPERATIONS: Record<number, string> = {
  1: "bind",
  5: "search",
  7: "modify",
  9: "add",
  11: "delete",
  13: "modifyDN",
  15: "compare",
  24: "extended",
};

/**
 * Marks `e` as a {@linkcode PeerLostError} when the server went away during `responseTag`'s
 * operation: the stream ended or was reset, or the server sent a notice of disconnection.
 */
function lost(e: unknown, responseTag: number): unknown {
  const gone = e instanceof EOFError || e instanceof ConnectionResetError ||
    (e instanceof LdapProtocolError && e.message.includes("notice of disconnection"));
  return gone ? markPeerLost(e as object, "ldap", OPERATIONS[responseTag] ?? "operation") : e;
}

/**
 * An LDAP connection.
 *
 * @example
 * ```ts ignore
 * const ldap = await LdapClient.connect({ host: "127.0.0.1" });
 * await ldap.bind("cn=admin,dc=example,dc=org", "secret");
 * console.log(await ldap.search("dc=example,dc=org", "(objectClass=person)", ["cn"]));
 * await ldap.unbind();
 * ```
 */
export class LdapSession {
  #socket: Socket;
  #reader: SocketReader;
  #nextId = 1;
  readonly #options: LdapOptions;

  constructor(socket: Socket, options: LdapOptions) {
    this.#socket = socket;
    this.#reader = new SocketReader(socket, 16384);
    this.#options = options;
  }

  /**
   * Connects (on a connection StartTLS can upgrade). Interruption point.
   * @throws {TimeoutError} after `connectTimeoutSeconds` (10)
   */
  static async connect(options: LdapOptions = {}): Promise<LdapSession> {
    await loadAsn1();
    const host = options.host ?? "127.0.0.1";
    const socket = await withTimeout(
      options.connectTimeoutSeconds ?? 10,
      connectTo,
      `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 389}`,
      { backend: "deno" }, // so that StartTLS can take the connection over
    );
    return new LdapSession(socket, options);
  }

  async #send(op: Asn1.AsnType): Promise<number> {
    const id = this.#nextId++;
    const message = new asn1js.Sequence({ value: [new asn1js.Integer({ value: id }), op] });
    await this.#socket.send(new Uint8Array(message.toBER()));
    return id;
  }

  /** Reads one message's bytes (tag, length, content), bounded. */
  async #readMessage(): Promise<Uint8Array> {
    const head = await this.#reader.readExact(2);
    let length = head[1], lengthBytes: Uint8Array = new Uint8Array(0);
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n === 0 || n > 4) throw new LdapProtocolError("bad BER length");
      lengthBytes = await this.#reader.readExact(n);
      length = 0;
      for (const b of lengthBytes) length = length * 256 + b;
    }
    const max = this.#options.maxMessageBytes ?? 16 << 20;
    if (length > max) throw new LdapProtocolError(`message of ${length} bytes over ${max}`);
    const body = await this.#reader.readExact(length);
    return concatBytes([head, lengthBytes, body]);
  }

  /** The next message for `id` (others, like unsolicited notices, are dropped). */
  async #receive(id: number): Promise<Element> {
    const patience = this.#options.responseTimeoutSeconds ?? 30;
    for (;;) {
      const bytes = patience === Infinity
        ? await this.#readMessage()
        : await withTimeout(patience, () => this.#readMessage());
      const { id: got, op } = decodeMessage(bytes);
      if (got === id) return op;
      if (got === 0) {
        throw new LdapProtocolError("the server sent a notice of disconnection");
      }
    }
  }

  async #operation(op: Asn1.AsnType, responseTag: number): Promise<Element> {
    const id = await this.#send(op);
    try {
      const response = await this.#receive(id);
      if (response.idBlock.tagNumber !== responseTag) {
        throw new LdapProtocolError(
          `expected [APPLICATION ${responseTag}], got ${response.idBlock.tagNumber}`,
        );
      }
      const r = structural(() => result(response));
      if (r.code !== 0) throw new LdapError(r.code, r.matched, r.message);
      return response;
    } catch (e) {
      if (!(e instanceof LdapError) && !(e instanceof LdapProtocolError)) await this.#abandon(id);
      throw lost(e, responseTag);
    }
  }

  async #abandon(id: number): Promise<void> {
    const abandon = new asn1js.Primitive({
      idBlock: { tagClass: 2, tagNumber: 16 },
      valueHex: new Uint8Array(new asn1js.Integer({ value: id }).valueBlock.toBER()),
    });
    try {
      await this.#send(abandon);
    } catch (e) {
      // The caller gets the error that made us abandon; a connection that cannot even
      // carry the abandon is of no further use.
      this.#socket.close();
      if (!isBroken(e)) throw e;
    }
  }

  /**
   * Simple bind. Interruption point.
   * @throws {LdapError} 49 for invalid credentials
   */
  async bind(dn: string, password: string): Promise<void> {
    await this.#operation(
      app(0, [
        new asn1js.Integer({ value: 3 }),
        octets(dn),
        new asn1js.Primitive({
          idBlock: { tagClass: 3, tagNumber: 0 },
          valueHex: encoder.encode(password),
        }),
      ]),
      1,
    );
  }

  /**
   * Searches. Interruption point (the search is abandoned on the server).
   * @throws {FilterSyntaxError} for a bad filter
   * @throws {LdapError} 32 if the base does not exist
   */
  async search(
    base: string,
    filter = "(objectClass=*)",
    attributes: string[] = [],
    options: { scope?: LdapScope; sizeLimit?: number; timeLimit?: number } = {},
  ): Promise<LdapEntry[]> {
    const scope = { base: 0, one: 1, sub: 2 }[options.scope ?? "sub"];
    const request = app(3, [
      octets(base),
      new asn1js.Enumerated({ value: scope }),
      new asn1js.Enumerated({ value: 0 }),
      new asn1js.Integer({ value: options.sizeLimit ?? 0 }),
      new asn1js.Integer({ value: options.timeLimit ?? 0 }),
      new asn1js.Boolean({ value: false }),
      filterToAsn1(parseFilter(filter)),
      new asn1js.Sequence({ value: attributes.map(octets) }),
    ]);
    const id = await this.#send(request);
    const entries: LdapEntry[] = [];
    try {
      for (;;) {
        const op = await this.#receive(id);
        const tag = op.idBlock.tagNumber;
        if (tag === 4) {
          entries.push(structural(() => {
            const [dn, attrs] = children(op);
            const attributes: Record<string, string[]> = {};
            for (const a of children(attrs)) {
              const [type, vals] = children(a);
              attributes[text(type)] = children(vals).map(text);
            }
            return { dn: text(dn), attributes };
          }));
        } else if (tag === 5) {
          const r = structural(() => result(op));
          if (r.code !== 0) throw new LdapError(r.code, r.matched, r.message);
          return entries;
        } else if (tag !== 19) { // references are not followed
          throw new LdapProtocolError(`unexpected [APPLICATION ${tag}] in a search`);
        }
      }
    } catch (e) {
      if (!(e instanceof LdapError) && !(e instanceof LdapProtocolError)) await this.#abandon(id);
      throw lost(e, 5);
    }
  }

  /** Adds an entry. Interruption point. @throws {LdapError} 68 if it exists */
  async add(dn: string, attributes: Record<string, string | string[]>): Promise<void> {
    const attrs = Object.entries(attributes).map(([type, v]) =>
      new asn1js.Sequence({
        value: [octets(type), new asn1js.Set({ value: (Array.isArray(v) ? v : [v]).map(octets) })],
      })
    );
    await this.#operation(app(8, [octets(dn), new asn1js.Sequence({ value: attrs })]), 9);
  }

  /** Modifies an entry. Interruption point. */
  async modify(dn: string, changes: LdapChange[]): Promise<void> {
    const list = changes.map((c) =>
      new asn1js.Sequence({
        value: [
          new asn1js.Enumerated({ value: { add: 0, delete: 1, replace: 2 }[c.operation] }),
          new asn1js.Sequence({
            value: [octets(c.attribute), new asn1js.Set({ value: c.values.map(octets) })],
          }),
        ],
      })
    );
    await this.#operation(app(6, [octets(dn), new asn1js.Sequence({ value: list })]), 7);
  }

  /** Deletes an entry. Interruption point. @throws {LdapError} 32 if there is none */
  async delete(dn: string): Promise<void> {
    const request = new asn1js.Primitive({
      idBlock: { tagClass: 2, tagNumber: 10 },
      valueHex: encoder.encode(dn),
    });
    await this.#operation(request, 11);
  }

  /**
   * StartTLS: upgrades this connection to TLS (before binding with a password).
   * Interruption point.
   */
  async startTls(options: { hostname?: string; caCerts?: string[] } = {}): Promise<void> {
    await this.#operation(
      app(23, [
        new asn1js.Primitive({
          idBlock: { tagClass: 3, tagNumber: 0 },
          valueHex: encoder.encode(STARTTLS_OID),
        }),
      ]),
      24,
    );
    const { socket } = await startTls(this.#socket, {
      hostname: options.hostname ?? this.#options.host ?? "127.0.0.1",
      caCerts: options.caCerts,
    });
    this.#socket = socket;
    this.#reader = new SocketReader(socket, 16384);
  }

  /**
   * Unbinds and closes. The socket is closed even when the unbind cannot be sent (a
   * connection already broken), and then that error is not raised: the end is reached.
   */
  async unbind(): Promise<void> {
    const request = new asn1js.Primitive({
      idBlock: { tagClass: 2, tagNumber: 2 },
      valueHex: new Uint8Array(0),
    });
    try {
      await this.#send(request);
    } catch (e) {
      if (!isBroken(e)) throw e;
    } finally {
      this.#socket.close();
    }
  }
}

const filterContext = (n: number, value: Asn1.AsnType[]) =>
  new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: n }, value });
const filterOctets = (b: Uint8Array | string) =>
  new asn1js.OctetString({ valueHex: typeof b === "string" ? encoder.encode(b) : b });

/** The filter as its BER element (the Filter CHOICE of RFC 4511). */
function filterToAsn1(filter: Filter): Asn1.AsnType {
  switch (filter.type) {
    case "and":
      return filterContext(0, filter.filters.map(filterToAsn1));
    case "or":
      return filterContext(1, filter.filters.map(filterToAsn1));
    case "not":
      return filterContext(2, [filterToAsn1(filter.filter)]);
    case "equal":
    case "greaterOrEqual":
    case "lessOrEqual":
    case "approx": {
      const tag = { equal: 3, greaterOrEqual: 5, lessOrEqual: 6, approx: 8 }[filter.type];
      return filterContext(tag, [filterOctets(filter.attribute), filterOctets(filter.value)]);
    }
    case "present":
      return new asn1js.Primitive({
        idBlock: { tagClass: 3, tagNumber: 7 },
        valueHex: encoder.encode(filter.attribute),
      });
    case "substrings": {
      const parts: Asn1.AsnType[] = [];
      const part = (n: number, v: Uint8Array) =>
        new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: n }, valueHex: v });
      if (filter.initial) parts.push(part(0, filter.initial));
      for (const a of filter.any) parts.push(part(1, a));
      if (filter.final) parts.push(part(2, filter.final));
      return filterContext(4, [
        filterOctets(filter.attribute),
        new asn1js.Sequence({ value: parts }),
      ]);
    }
  }
}
