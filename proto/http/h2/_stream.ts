/**
 * @internal One HTTP/2 stream's state, shared by the connection (which fills its receive
 * queue and windows) and the stream's thread (which reads the body and sends the reply).
 *
 * @module
 */

import { ConditionVariable } from "../../../core/sync/condition_variable.ts";
import type { Thread } from "../../../core/thread.ts";
import type { StreamResetError } from "./errors.ts";

/** What a stream's request needs from its connection. */
export interface StreamHost {
  /** Sends a header block (HEADERS, CONTINUATION); END_STREAM when `end`. */
  sendHeaders(stream: Http2Stream, fields: string[], end: boolean): void;
  /** Queues what the windows allow of `data` now; returns how many bytes went. */
  trySendData(stream: Http2Stream, data: Uint8Array, end: boolean): number;
  /**
   * Sends all of `data` as the windows open. Interruption point.
   * @throws {StreamResetError} if the stream is reset meanwhile
   * @throws {TimeoutError} if the windows stay shut past the stall timeout
   */
  sendData(stream: Http2Stream, data: Uint8Array, end: boolean): Promise<void>;
  /** The handler consumed `n` body bytes: the peer may send as many more. */
  consumed(stream: Http2Stream, n: number): void;
  /** Resets the stream from our side with `code` (if it is not closed already). */
  reset(stream: Http2Stream, code: number): void;
  /** Limits for the stream's request. */
  readonly maxBodyBytes: number;
  /** Seconds a body read may wait for data. */
  readonly bodyTimeout: number;
}

/** One stream. Fields are read and written by the connection and the stream's thread. */
export class Http2Stream {
  readonly id: number;
  readonly host: StreamHost;
  thread: Thread | null = null;
  // Receiving.
  readonly chunks: Uint8Array[] = [];
  /** Index of the first unread chunk in `chunks`. */
  chunkAt = 0;
  buffered = 0;
  /** END_STREAM received: no more data will come. */
  remoteEnded = false;
  /** Bytes the peer may still send before our next WINDOW_UPDATE. */
  recvWindow: number;
  /** DATA bytes received in all. */
  received = 0;
  /** The content-length the request declared, or -1. */
  declaredLength = -1;
  /** Trailer fields, once they came. */
  trailers: [string, string][] = [];
  // Sending.
  sendWindow: number;
  /** END_STREAM sent. */
  localEnded = false;
  /** Set when the stream was reset (by either side) or the connection ended under it. */
  reset: StreamResetError | null = null;
  /** Made when a thread first waits: most streams (a GET answered at once) never do. */
  #changed: ConditionVariable<void> | null = null;
  /** Called once when the stream is reset or cut (a server stream's watchers). */
  onReset: ((error: StreamResetError) => void) | null = null;
  /** A response head's fields, once they came (client streams). */
  responseFields: string[] | null = null;

  constructor(id: number, host: StreamHost, recvWindow: number, sendWindow: number) {
    this.id = id;
    this.host = host;
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /** Whether both sides have ended the stream, or it was reset. */
  get closed(): boolean {
    return this.reset !== null || (this.localEnded && this.remoteEnded);
  }

  /**
   * Blocks until data, a window or a reset comes (`wake`). Interruption point: the
   * waiter throws what it is interrupted with.
   */
  changed(): Promise<void> {
    return (this.#changed ??= new ConditionVariable<void>()).wait();
  }

  /** Wakes the stream's thread if it waits. */
  wake(): void {
    this.#changed?.wakeAll();
  }
}
