/**
 * A hand-written HTTP/2 client for tests: it sends exactly the frames a test asks for
 * (well-formed or hostile) and reads the server's frames one by one.
 */
import { connectTo, type Socket, SocketReader, withTimeout } from "../../../mod.ts";
import type { Address } from "../../../net/address.ts";
import { SocketError } from "../../../net/errors.ts";
import {
  ACK,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  GOAWAY,
  HEADERS,
  PREFACE,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
} from "../../../proto/http/h2/constants.ts";
import { FrameWriter, readFrameHeader, readUint32 } from "../../../proto/http/h2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../../../proto/http/h2/hpack.ts";

/** A frame as read. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
  /** A header block's fields, on the frame that ended it. */
  fields?: string[];
  /** Whether that block's HEADERS frame had END_STREAM. */
  endStream?: boolean;
}

/** A response gathered from a stream's frames. */
export interface Response {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
  trailers: Map<string, string>;
  interim: number[];
}

/** The peer's side of a GOAWAY. */
export interface Goaway {
  last: number;
  code: number;
  debug: string;
}

export class H2Peer {
  readonly socket: Socket;
  readonly reader: SocketReader;
  readonly out: FrameWriter = new FrameWriter();
  readonly encoder: HpackEncoder = new HpackEncoder();
  readonly decoder: HpackDecoder = new HpackDecoder({ maxHeaderListSize: 1 << 24 });
  /** Server SETTINGS seen (answered with ACK automatically). */
  serverSettings = 0;
  /** Whether to answer the server's SETTINGS with an ACK. */
  ackSettings = true;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket, 65536);
  }

  /** Connects and sends the preface and a SETTINGS frame with `settings`. */
  static async open(
    address: Address,
    settings: [number, number][] = [],
  ): Promise<H2Peer> {
    const peer = new H2Peer(await connectTo(address));
    await peer.socket.send(PREFACE);
    peer.out.settings(settings);
    await peer.flush();
    return peer;
  }

  /** Sends what was laid out in `out`. */
  async flush(): Promise<void> {
    if (this.out.length > 0) await this.socket.send(this.out.take().slice());
  }

  /**
   * Sends what was laid out, unless the server has closed the connection (as it does
   * after a GOAWAY, possibly before a hostile peer has sent all): false then.
   */
  async flushQuietly(): Promise<boolean> {
    try {
      await this.flush();
      return true;
    } catch (e) {
      if (e instanceof SocketError) return false;
      throw e;
    }
  }

  /** Lays out a request's HEADERS (END_STREAM if `end`). */
  request(id: number, path: string, options: {
    method?: string;
    end?: boolean;
    fields?: [string, string][];
  } = {}): void {
    const fields = [
      ":method",
      options.method ?? "GET",
      ":scheme",
      "http",
      ":path",
      path,
      ":authority",
      "localhost",
      ...(options.fields ?? []).flat(),
    ];
    this.out.headers(id, this.encoder.encode(fields), options.end ?? true ? END_STREAM : 0, 16384);
  }

  /** Lays out a DATA frame. */
  data(id: number, data: Uint8Array | string, end = false): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.out.data(id, bytes, end ? END_STREAM : 0);
  }

  /** Reads the next frame (answering SETTINGS); null at the end of the connection. */
  async frame(seconds = 5): Promise<Frame | null> {
    // Window updates a response laid out go before the next wait.
    if (this.out.length > 0) await this.flushQuietly();
    return await withTimeout(seconds, async () => {
      const r = this.reader;
      while (r.buffered < 9) if (!await r.fill()) return null;
      const h = readFrameHeader(r.peek(), 0);
      while (r.buffered < 9 + h.length) if (!await r.fill()) return null;
      const payload = r.peek().slice(9, 9 + h.length);
      r.skip(9 + h.length);
      if (h.type === SETTINGS && (h.flags & ACK) === 0) {
        this.serverSettings++;
        if (this.ackSettings) {
          this.out.settings([], true);
          await this.flushQuietly();
        }
      }
      const f: Frame = { type: h.type, flags: h.flags, stream: h.stream, payload };
      if (h.type === HEADERS || h.type === CONTINUATION) this.#decode(f);
      return f;
    });
  }

  /** Reads frames until `stop` says so; returns them. Throws at the connection's end. */
  async until(stop: (f: Frame) => boolean, seconds = 5): Promise<Frame[]> {
    const seen: Frame[] = [];
    return await withTimeout(seconds, async () => {
      for (;;) {
        const f = await this.frame(seconds);
        if (f === null) throw new Error(`connection ended; frames: ${describe(seen)}`);
        seen.push(f);
        if (stop(f)) return seen;
      }
    });
  }

  /** Reads until the GOAWAY (other frames dropped). */
  async goaway(seconds = 5): Promise<Goaway> {
    const frames = await this.until((f) => f.type === GOAWAY, seconds);
    const f = frames[frames.length - 1];
    return {
      last: readUint32(f.payload, 0) & 0x7fffffff,
      code: readUint32(f.payload, 4),
      debug: new TextDecoder().decode(f.payload.subarray(8)),
    };
  }

  /**
   * Reads frames until stream `id` ends (or is reset: then `reset` holds the code),
   * giving back the window of every DATA frame when `credit`. Frames of other streams
   * are kept for their own `response` (in `stash`).
   */
  async response(
    id: number,
    options: { credit?: boolean; seconds?: number } = {},
  ): Promise<Response & { reset: number | null }> {
    const parts: Uint8Array[] = [];
    const out: Response & { reset: number | null } = {
      status: 0,
      headers: new Map(),
      body: new Uint8Array(0),
      trailers: new Map(),
      interim: [],
      reset: null,
    };
    const take = (f: Frame): boolean => {
      if (f.type === RST_STREAM) {
        out.reset = readUint32(f.payload, 0);
        return true;
      }
      if (f.type === DATA) {
        parts.push(f.payload);
        if ((options.credit ?? true) && f.payload.length > 0) {
          this.out.windowUpdate(0, f.payload.length);
          this.out.windowUpdate(id, f.payload.length);
        }
        return (f.flags & END_STREAM) !== 0;
      }
      if (f.fields !== undefined) {
        const map = new Map<string, string>();
        for (let i = 0; i < f.fields.length; i += 2) map.set(f.fields[i], f.fields[i + 1]);
        const status = map.get(":status");
        if (status !== undefined && Number(status) < 200) out.interim.push(Number(status));
        else if (status !== undefined) {
          out.status = Number(status);
          out.headers = map;
        } else out.trailers = map;
        return f.endStream === true;
      }
      return false;
    };
    let done = false;
    const mine = this.stash.filter((f) => f.stream === id);
    this.stash = this.stash.filter((f) => f.stream !== id);
    for (const f of mine) if (!done) done = take(f);
    if (!done) {
      await this.until((f) => {
        if (f.stream !== id) {
          this.stash.push(f);
          return false;
        }
        return take(f);
      }, options.seconds ?? 5);
    }
    if (options.credit ?? true) await this.flush();
    let size = 0;
    for (const p of parts) size += p.length;
    out.body = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.body.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Frames of streams not asked for yet. */
  stash: Frame[] = [];
  #block: Uint8Array[] = [];
  #blockEnd = false;

  /** Decodes header blocks as they come (the table must follow the wire's order). */
  #decode(f: Frame): void {
    let payload = f.payload;
    if (f.type === HEADERS) {
      if (f.flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]);
      if (f.flags & 0x20) payload = payload.subarray(5);
      this.#blockEnd = (f.flags & END_STREAM) !== 0;
    }
    this.#block.push(payload);
    if ((f.flags & END_HEADERS) === 0) return;
    const size = this.#block.reduce((n, b) => n + b.length, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const b of this.#block) {
      all.set(b, at);
      at += b.length;
    }
    this.#block = [];
    f.fields = this.decoder.decode(all).fields;
    f.endStream = this.#blockEnd;
  }

  close(): void {
    this.socket.close();
  }
}

/** Frame type names, for messages. */
export function describe(frames: Frame[]): string {
  const names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING"];
  return frames.map((f) =>
    `${
      names[f.type] ??
        (f.type === GOAWAY ? "GOAWAY" : f.type === WINDOW_UPDATE ? "WINDOW_UPDATE" : f.type)
    }(${f.stream})`
  ).join(" ");
}

export { CONTINUATION, END_HEADERS, HEADERS };
