/**
 * Reply bytes assembled in one buffer shared by every reply, then sent with
 * `Socket.sendBorrowed` (which copies only what the kernel does not take at once). A fresh
 * buffer per reply costs more than the rest of a small reply's JavaScript (about 1 us in
 * Deno), and so does encoding a short head with `TextEncoder`.
 *
 * Assembling and sending happen in one synchronous stretch (no await between
 * `startReply` and `sendReply`), so threads never see each other's bytes. Past 1 MiB the
 * bytes go to a list of buffers of their own instead, so the shared buffer stays small.
 *
 * @module
 */

import { spawn, type Thread } from "../../core/thread.ts";
import { ClosedError, Interrupted } from "../../core/errors.ts";
import { SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import type { PeerDeadline } from "./body.ts";
import { InvalidFieldError } from "./errors.ts";
import { isToken } from "./headers.ts";

const encoder = new TextEncoder();
const MAX_SHARED = 1 << 20;
let shared = new Uint8Array(16384);
let used = 0;
/** The last view sent of `shared`: replies of one size (the rule on a busy route) share it. */
let sentView: Uint8Array = shared.subarray(0, 0);
let overflow: Uint8Array[] | null = null;

/** @internal Starts a reply: the assembled bytes are empty. */
export function startReply(): void {
  used = 0;
  overflow = null;
}

/** Whether `n` more bytes fit in the shared buffer (grown up to its limit). */
function room(n: number): boolean {
  const need = used + n;
  if (need <= shared.length) return true;
  if (need > MAX_SHARED) return false;
  const bigger = new Uint8Array(Math.min(MAX_SHARED, Math.max(need, shared.length * 2)));
  bigger.set(shared.subarray(0, used));
  shared = bigger;
  sentView = shared.subarray(0, 0);
  return true;
}

/** Moves what the shared buffer holds to the overflow list. */
function spill(): void {
  (overflow ??= []).push(shared.slice(0, used));
  used = 0;
}

/** @internal Appends `text` as UTF-8 (ASCII byte by byte: no encoder call). */
export function putText(text: string): void {
  const n = text.length;
  if (!room(n * 3)) {
    spill();
    if (!room(n * 3)) {
      overflow!.push(encoder.encode(text));
      return;
    }
  }
  const out = shared;
  let at = used;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) {
      at += encoder.encodeInto(i === 0 ? text : text.slice(i), out.subarray(at)).written;
      break;
    }
    out[at++] = c;
  }
  used = at;
}

/**
 * @internal Appends a field value as `putText` does, checking it on the way (the check
 * costs one comparison per character in the copy loop).
 * @throws {InvalidFieldError} naming `name` if `value` holds a control character but HTAB
 */
export function putFieldValue(name: string, value: string): void {
  const n = value.length;
  if (!room(n * 3)) {
    spill();
    if (!room(n * 3)) {
      checkValue(name, value);
      overflow!.push(encoder.encode(value));
      return;
    }
  }
  const out = shared;
  let at = used;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c >= 0x7f) {
      if (c > 0x7f) {
        checkValue(name, value);
        at += encoder.encodeInto(i === 0 ? value : value.slice(i), out.subarray(at)).written;
        break;
      }
      if (c !== 9) throw new InvalidFieldError(name, "value");
    }
    out[at++] = c;
  }
  used = at;
}

function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) throw new InvalidFieldError(name, "value");
  }
}

/** @internal Appends `bytes`. */
export function putBytes(bytes: Uint8Array): void {
  if (!room(bytes.length)) {
    spill();
    if (!room(bytes.length)) {
      overflow!.push(bytes);
      return;
    }
  }
  const n = bytes.length;
  if (n <= 64) {
    // Short copies by hand: the builtin's call costs more than the bytes.
    const out = shared;
    for (let i = 0, at = used; i < n; i++, at++) out[at] = bytes[i];
  } else shared.set(bytes, used);
  used += n;
}

/** @internal Appends a non-negative integer in decimal (no string made). */
export function putDecimal(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    putText(String(value));
    return;
  }
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  if (!room(digits)) {
    spill();
    room(digits);
  }
  const out = shared;
  let rest = value;
  for (let at = used + digits - 1; at >= used; at--) {
    out[at] = 48 + rest % 10;
    rest = Math.floor(rest / 10);
  }
  used += digits;
}

const fieldPrefixes = new Map<string, Uint8Array>();
const MAX_FIELD_PREFIXES = 256;
/**
 * The last name seen of each length and its bytes, looked at before the map: a reply's
 * few names (of different lengths, mostly) each find theirs with one comparison.
 */
const recentNames: (string | undefined)[] = new Array(32).fill(undefined);
const recentPrefixes: (Uint8Array | undefined)[] = new Array(32).fill(undefined);

/**
 * @internal Appends "\r\n" `name` ": ". The bytes of the first 256 names are kept (names
 * repeat from reply to reply; copying bytes beats encoding text); a name is checked to be
 * a token before it is kept or written, so a kept one costs no check.
 * @throws {InvalidFieldError} if `name` is not a token
 */
export function putFieldName(name: string): void {
  const slot = name.length & 31;
  if (recentNames[slot] === name) {
    putBytes(recentPrefixes[slot]!);
    return;
  }
  let prefix = fieldPrefixes.get(name);
  if (prefix === undefined) {
    if (!isToken(name)) throw new InvalidFieldError(name, "name");
    if (fieldPrefixes.size >= MAX_FIELD_PREFIXES || name.length > 64) {
      putText("\r\n");
      putText(name);
      putText(": ");
      return;
    }
    prefix = encoder.encode(`\r\n${name}: `);
    fieldPrefixes.set(name, prefix);
  }
  recentNames[slot] = name;
  recentPrefixes[slot] = prefix;
  putBytes(prefix);
}

/** @internal Appends text or bytes. */
export function putChunk(chunk: string | Uint8Array): void {
  if (typeof chunk === "string") putText(chunk);
  else putBytes(chunk);
}

/** @internal How many bytes are assembled in the shared buffer (a mark for `assembledSince`). */
export function assembledLength(): number {
  return overflow === null ? used : -1;
}

/**
 * @internal A copy of the bytes assembled since `assembledLength` returned `from`; null
 * if they did not all stay in the shared buffer.
 */
export function assembledSince(from: number): Uint8Array | null {
  return from < 0 || overflow !== null ? null : shared.slice(from, used);
}

/** @internal Whether anything has been assembled since `startReply`. */
export function replyIsEmpty(): boolean {
  return used === 0 && overflow === null;
}

/**
 * @internal What `sendReply` returns when every byte went out at once: one settled
 * promise, so that callers can tell and skip the await (and its trip through the
 * microtask queue) on the common path.
 */
export const SENT: Promise<void> = Promise.resolve();

/** Replies up to this size wait under one deadline; larger ones re-arm it at each progress. */
const WATCHED_WHOLE = 65536;

/** The most a connection holds back of pipelined replies before it sends them anyway. */
const MAX_HELD = 65536;

/**
 * @internal The replies a connection holds back while its client's next request is
 * buffered already (pipelining): they go out in one write with a later reply, or when
 * the connection is about to wait for the client, instead of one write (one loopback
 * packet, one wake-up of the client) each. The server sets `hold` for a request it may
 * hold the reply of (no body, no field that can lead to a write past the reply) and
 * sends what is held before anything else can write (see `server.ts`).
 */
export class HeldReplies {
  /** Whether the current request's complete reply may be held. */
  hold = false;
  /** Bytes held (`bytes[0..length)`). */
  length = 0;
  #bytes: Uint8Array = new Uint8Array(0);
  /**
   * The thread sending what is held while a handler blocks (see `sendBehind`): replies
   * made meanwhile join what it sends, so they keep their order.
   */
  sender: Thread | null = null;
  /** Why the sender stopped (the peer gone, the socket closed), for the next reply. */
  #failure: unknown = null;

  /**
   * Appends the assembled reply to what is held, if it fits (always while a sender
   * runs); the reply is consumed then.
   */
  keep(): boolean {
    const n = used, length = this.length;
    if (overflow !== null || (length + n > MAX_HELD && this.sender === null)) return false;
    if (this.#bytes.length < length + n) {
      const bigger = new Uint8Array(Math.max(4096, 2 * (length + n)));
      bigger.set(this.#bytes.subarray(0, length));
      this.#bytes = bigger;
    }
    this.#bytes.set(shared.subarray(0, n), length);
    this.length = length + n;
    used = 0;
    return true;
  }

  /** What is held, as a view valid until the next `keep` (the length is reset). */
  take(): Uint8Array {
    const view = this.#bytes.subarray(0, this.length);
    this.length = 0;
    return view;
  }

  /**
   * Sends what is held while the handler of a later request blocks: what the socket
   * takes now, the rest from a thread of its own, which replies made meanwhile join
   * (the connection thread cannot wait twice at once, and the client may be waiting for
   * these replies before it sends more). Its send is under the connection's deadline.
   * Never throws (the handler's promise is still to be awaited): a peer gone is kept for
   * `drained`.
   */
  sendBehind(socket: Socket, deadline: PeerDeadline | null): void {
    if (this.sender !== null) return;
    const length = this.length;
    let taken: number;
    try {
      taken = socket.trySend(this.#bytes.subarray(0, length));
    } catch (e) {
      if (!(e instanceof SocketError || e instanceof ClosedError)) throw e;
      this.#failure = deadline === null ? e : deadline.lost(e);
      this.length = 0;
      return;
    }
    this.#bytes.copyWithin(0, taken, length);
    this.length = length - taken;
    if (this.length === 0) return;
    this.sender = spawn({ name: `http held replies ${socket}` }, async () => {
      try {
        while (this.length > 0) {
          const sending = sendView(socket, this.take().slice(), deadline);
          if (sending !== SENT) await sending;
        }
      } catch (e) {
        // The peer gone, the connection closed or timed out: the connection's own
        // next reply or read meets the same; this one is kept for its next reply.
        if (!(e instanceof SocketError || e instanceof ClosedError || e instanceof Interrupted)) {
          throw e;
        }
        this.#failure = e;
        this.length = 0;
      } finally {
        this.sender = null;
      }
    });
  }

  /** Whether a sender runs, or stopped with an error `drained` has not thrown yet. */
  get busy(): boolean {
    return this.sender !== null || this.#failure !== null;
  }

  /**
   * Waits until the sender (if one runs) has sent everything held: a wait for the peer
   * to read, under `deadline`'s send deadline (the sender's own may have passed already,
   * raised in the connection's thread while a handler waited). Interruption point: when
   * interrupted, the sender is shut down.
   * @throws what stopped the sender (a SocketError...)
   */
  async drained(deadline: PeerDeadline | null = null): Promise<void> {
    const sender = this.sender;
    if (sender !== null) {
      deadline?.arm("send");
      try {
        await sender.join();
      } catch (e) {
        if (!sender.dead) sender.shutdown(); // a peer that does not read holds nothing
        throw e;
      } finally {
        deadline?.disarm();
      }
    }
    const failure = this.#failure;
    if (failure !== null) {
      this.#failure = null;
      throw failure;
    }
  }
}

/**
 * @internal Sends what `held` holds (see {@linkcode sendReply} for `deadline`): a
 * settled promise ({@linkcode SENT}) when the socket takes it at once.
 */
export function sendHeld(
  socket: Socket,
  held: HeldReplies,
  deadline: PeerDeadline | null,
): Promise<unknown> {
  return sendView(socket, held.take(), deadline);
}

/**
 * @internal Sends the assembled bytes on `socket` and starts over. Interruption point
 * (as `Socket.send`) unless it returns {@linkcode SENT}. When the socket cannot take
 * the bytes at once, `deadline` is armed while the send waits for the peer to read (a
 * peer that never reads cannot hold the sender forever): for up to 64 KiB, once for
 * the whole rest; for more, again each time some bytes go out. With `held` (a
 * connection's pipelined replies), what is held goes out first, in the same write; a
 * `complete` reply is held too while `held.hold` says so.
 */
export function sendReply(
  socket: Socket,
  deadline: PeerDeadline | null,
  held: HeldReplies | null = null,
  complete = false,
): Promise<unknown> {
  if (held !== null && (held.length > 0 || (complete && held.hold) || held.sender !== null)) {
    // Pipelined replies: this one joins those held (and stays held, or they all go now,
    // or the sender of held replies takes it along).
    if (held.keep()) {
      if (held.sender !== null) {
        return complete && held.hold && held.length <= MAX_HELD ? SENT : held.drained(deadline);
      }
      return complete && held.hold ? SENT : sendHeld(socket, held, deadline);
    }
    if (held.length > 0) (overflow ??= []).unshift(held.take().slice());
  }
  if (overflow === null) {
    const n = used;
    used = 0;
    // A view costs more than a short reply's bytes; the socket sends it at once (or
    // copies what it cannot), so the same one serves the next reply of this size.
    if (sentView.length !== n) sentView = shared.subarray(0, n);
    return sendView(socket, sentView, deadline);
  }
  const parts = overflow;
  if (used > 0) parts.push(shared.slice(0, used));
  startReply();
  return deadline === null ? socket.writev(parts) : sendWatched(socket, parts, deadline);
}

/** Sends `view` (of a buffer reused after the call: see `Socket.sendBorrowed`). */
function sendView(socket: Socket, view: Uint8Array, deadline: PeerDeadline | null) {
  const n = view.length;
  let taken: number;
  try {
    taken = socket.trySend(view);
  } catch (e) {
    throw deadline === null ? e : deadline.lost(e);
  }
  if (taken === n) return SENT;
  const rest = taken === 0 ? view : view.subarray(taken);
  if (deadline === null) return socket.sendBorrowed(rest);
  if (rest.length <= WATCHED_WHOLE) {
    // The common slow path (always taken on the Deno backend): one `then`, no frame.
    deadline.arm("send");
    return socket.sendBorrowed(rest).then(deadline.sent, deadline.failed);
  }
  return sendWatched(socket, [rest.slice()], deadline);
}

/** Sends `parts` in order, the deadline armed afresh each time some bytes go out. */
async function sendWatched(
  socket: Socket,
  parts: readonly Uint8Array[],
  deadline: PeerDeadline,
): Promise<void> {
  try {
    for (const part of parts) {
      for (let sent = 0; sent < part.length;) {
        deadline.arm("send");
        sent += await socket.sendSome(sent === 0 ? part : part.subarray(sent));
      }
    }
  } catch (e) {
    throw deadline.lost(e);
  } finally {
    deadline.disarm();
  }
}

/** @internal The size of `chunk` in bytes (UTF-8 for text, as `TextEncoder` writes it). */
export function byteLength(chunk: string | Uint8Array): number {
  if (typeof chunk !== "string") return chunk.length;
  const n = chunk.length;
  let size = n;
  for (let i = 0; i < n; i++) {
    const c = chunk.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) size += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = chunk.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        size += 2; // a pair: two units, four bytes
        i++;
      } else size += 2; // a lone surrogate: U+FFFD, three bytes
    } else size += 2;
  }
  return size;
}
