/**
 * The error classes of shrapnel. Every error the library raises extends
 * {@linkcode ShrapnelError}, so one `instanceof` check separates ours from the rest.
 *
 * @module
 */

/**
 * Base class of every error raised by shrapnel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShrapnelError, TimeoutError } from "./errors.ts";
 * assert.deepEqual(new TimeoutError(1) instanceof ShrapnelError, true);
 * ```
 */
export class ShrapnelError extends Error {
  /** Creates the error; `name` is taken from the concrete class. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The protocols whose {@linkcode ProtocolError} shrapnel raises. Code built on shrapnel
 * may name its own (any string).
 */
export type ProtocolName =
  | "amqp"
  | "cluster"
  | "dns"
  | "ftp"
  | "http"
  | "http2"
  | "ldap"
  | "mysql"
  | "postgres"
  | "ssh"
  | "tls"
  | "websocket"
  | (string & Record<never, never>);

/**
 * The peer broke its protocol: it sent bytes that are not a valid message, a message that
 * is not the one the protocol allows here, or more than a cap allows. `protocol` names
 * the protocol. Every protocol's "the peer sent garbage" error extends it
 * (`HttpProtocolError`, `Http2Error`, `WebSocketError`, `MalformedPacketError`,
 * `TlsProtocolError`, `FtpProtocolError`, `SshProtocolError`, `LdapProtocolError`,
 * `MysqlProtocolError`, `PostgresProtocolError`, `AmqpProtocolError`), so one
 * `instanceof` catches a hostile or broken peer of any protocol; the protocol's own
 * family (`DnsError`, `HttpError`, `SocketError` and `TlsError`, `FtpError`, `SshError`)
 * still matches it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError, ShrapnelError } from "./errors.ts";
 * const e = new ProtocolError("redis", "reply does not start with a type byte");
 * assert.ok(e instanceof ShrapnelError);
 * assert.deepEqual([e.protocol, e.message], ["redis", "reply does not start with a type byte"]);
 * ```
 */
export class ProtocolError extends ShrapnelError {
  /** The protocol the peer broke ("http", "dns"...). */
  readonly protocol: ProtocolName;
  /**
   * Makes the error.
   *
   * @param protocol the protocol the peer broke
   * @param message what was wrong
   * @param options its cause
   */
  constructor(protocol: ProtocolName, message?: string, options?: ErrorOptions) {
    super(message, options);
    this.protocol = protocol;
  }
}

/**
 * Delivered to a thread at its blocking point by {@linkcode Thread.interrupt}.
 * {@linkcode TimeoutError} and {@linkcode Shutdown} derive from it, so a handler that
 * cleans up on any interruption catches `Interrupted`.
 *
 * @example
 * ```ts
 * import { Interrupted } from "./errors.ts";
 * try { throw new Interrupted("stop"); } catch (e) { console.log(e instanceof Interrupted); }
 * ```
 */
export class Interrupted extends ShrapnelError {}

/**
 * Thrown by `withTimeout` when its own deadline expires. An outer frame's expiry is
 * not a `TimeoutError` while it passes through inner frames: only the frame that set the
 * timer converts it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "./errors.ts";
 * const e = new TimeoutError(0.5);
 * assert.deepEqual([e.seconds, e.message], [0.5, "timed out after 0.5 s"]);
 * ```
 */
export class TimeoutError extends Interrupted {
  /** The delay that was given to `withTimeout`, in seconds. */
  readonly seconds: number;
  /**
   * Creates a {@linkcode TimeoutError}.
   *
   * @param seconds the delay that expired
   */
  constructor(seconds: number) {
    super(`timed out after ${seconds} s`);
    this.seconds = seconds;
  }
}

/**
 * Raised in a thread by {@linkcode Thread.shutdown}. The thread wrapper does not report
 * it as a crash; `join()` rethrows it so a joiner can tell the thread was stopped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Shutdown, Interrupted } from "./errors.ts";
 * assert.deepEqual(new Shutdown() instanceof Interrupted, true);
 * ```
 */
export class Shutdown extends Interrupted {
  /**
   * Creates a {@linkcode Shutdown}.
   *
   * @param message why the thread is being shut down
   */
  constructor(message = "thread shut down") {
    super(message);
  }
}

/**
 * Raised in a thread waiting on an object (a socket, a channel) that was closed while it
 * waited, and by operations on an object that is already closed.
 *
 * @example
 * ```ts
 * import { ClosedError } from "./errors.ts";
 * console.log(new ClosedError("socket closed").message);
 * ```
 */
export class ClosedError extends ShrapnelError {}

/**
 * Raised when an operation needs a live thread but the thread has already finished
 * (for example interrupting a dead thread).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadThreadError } from "./errors.ts";
 * assert.deepEqual(new DeadThreadError("thread 3 is dead").name, "DeadThreadError");
 * ```
 */
export class DeadThreadError extends ShrapnelError {}

/**
 * Raised when a thread is interrupted before it has started running. Use
 * {@linkcode Thread.shutdown} to cancel a thread that has not started.
 *
 * @example
 * ```ts
 * import { NotStartedError } from "./errors.ts";
 * console.log(new NotStartedError("thread 4 has not started").name);
 * ```
 */
export class NotStartedError extends ShrapnelError {}

/**
 * Raised on misuse of a lock: unlocking a mutex one does not own, or re-acquiring a
 * write lock one already holds.
 *
 * @example
 * ```ts
 * import { LockError } from "./errors.ts";
 * console.log(new LockError("not the owner").message);
 * ```
 */
export class LockError extends ShrapnelError {}

/**
 * Raised when two threads wait on the same direction of the same object at once
 * (for example two readers of one socket).
 *
 * @example
 * ```ts
 * import { SimultaneousError } from "./errors.ts";
 * console.log(new SimultaneousError("two readers").name);
 * ```
 */
export class SimultaneousError extends ShrapnelError {}

/**
 * Raised by a blocking call made outside any shrapnel thread. Blocking calls need a
 * thread so that they can be interrupted; start one with `spawn` or `main`.
 *
 * @example
 * ```ts
 * import { NotInThreadError } from "./errors.ts";
 * console.log(new NotInThreadError("sleep").message);
 * ```
 */
export class NotInThreadError extends ShrapnelError {
  /**
   * Creates a {@linkcode NotInThreadError}.
   *
   * @param operation the blocking call that was attempted
   */
  constructor(operation: string) {
    super(
      `${operation}() blocks and must run inside a thread: start one with spawn() or main()`,
    );
  }
}

/** One item's outcome in an {@linkcode InParallelError}. */
export type Outcome<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

/**
 * Raised by `inParallel` when at least one of the calls failed; `outcomes` holds every
 * item's result or error, in the order of the calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InParallelError } from "./errors.ts";
 * const e = new InParallelError([{ ok: true, value: 1 }, { ok: false, error: new Error("x") }]);
 * assert.deepEqual(e.failures.length, 1);
 * ```
 */
export class InParallelError extends ShrapnelError {
  /** Every call's outcome, in call order. */
  readonly outcomes: readonly Outcome[];
  /**
   * Creates a {@linkcode InParallelError}.
   *
   * @param outcomes every call's outcome, in call order
   */
  constructor(outcomes: readonly Outcome[]) {
    const failed = outcomes.filter((o) => !o.ok).length;
    super(`${failed} of ${outcomes.length} parallel calls failed`);
    this.outcomes = outcomes;
  }
  /** The errors of the calls that failed, in call order. */
  get failures(): unknown[] {
    const errors: unknown[] = [];
    for (const o of this.outcomes) if (!o.ok) errors.push(o.error);
    return errors;
  }
  /** {@linkcode InParallelError.failures}, under `AggregateError`'s name for them. */
  get errors(): unknown[] {
    return this.failures;
  }
}

/** One child's outcome in a {@linkcode ThreadGroupError}: the thread and how it ended. */
export type ChildOutcome = Outcome & {
  /** The child thread. */
  readonly thread: { readonly id: number; readonly name: string };
};

/**
 * Raised in the owner of a `ThreadGroup` when children failed: the first failure shut
 * the other children down, and once every child had finished this error was raised with
 * every outcome (the failures, and what each sibling live at the time returned or threw:
 * `Shutdown` for those that were stopped). `errors` holds the failures (not the
 * `Shutdown`s of siblings), as in an `AggregateError`.
 *
 * @example
 * ```ts
 * import { ThreadGroupError } from "./errors.ts";
 * const e = new ThreadGroupError("g", [{ ok: false, error: new Error("x"), thread: { id: 2, name: "w" } }]);
 * console.log(e.errors.length, e.message); // 1 "thread group \"g\": 1 of 1 children failed (w: Error: x)"
 * ```
 */
export class ThreadGroupError extends ShrapnelError {
  /** The outcome of the failed children and of every sibling live when the first failed. */
  readonly outcomes: readonly ChildOutcome[];
  /**
   * Makes the error, its message naming the first failure.
   * @param group the group's name
   * @param outcomes the children's outcomes
   */
  constructor(group: string, outcomes: readonly ChildOutcome[]) {
    const failed = outcomes.filter(isFailure);
    const first = failed[0] === undefined || failed[0].ok ? undefined : failed[0];
    super(
      `thread group "${group}": ${failed.length} of ${outcomes.length} children failed` +
        (first === undefined ? "" : ` (${first.thread.name}: ${String(first.error)})`),
      first === undefined ? undefined : { cause: first.error },
    );
    this.outcomes = outcomes;
  }
  /** The errors of the children that failed (not the siblings' `Shutdown`), in order. */
  get errors(): unknown[] {
    const errors: unknown[] = [];
    for (const o of this.outcomes) if (isFailure(o)) errors.push((o as { error: unknown }).error);
    return errors;
  }
}

function isFailure(o: Outcome): boolean {
  return !o.ok && !(o.error instanceof Shutdown);
}

/**
 * Raised by `ThreadGroup.spawn` when the group already has `maxThreads` live children
 * and its `whenFull` option is `"refuse"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ThreadGroupFullError } from "./errors.ts";
 * assert.equal(new ThreadGroupFullError("conns", 2).message, 'thread group "conns" is full (2 threads)');
 * ```
 */
export class ThreadGroupFullError extends ShrapnelError {
  /** The group's bound. */
  readonly maxThreads: number;
  /**
   * Makes the error.
   * @param group the group's name
   * @param maxThreads its bound
   */
  constructor(group: string, maxThreads: number) {
    super(`thread group "${group}" is full (${maxThreads} threads)`);
    this.maxThreads = maxThreads;
  }
}
