/**
 * The pool under {@linkcode PostgresPool} and {@linkcode MysqlPool}: a bounded set of
 * connections, health-checked when taken, replaced when dead, waited for with a deadline.
 *
 * @module
 */

import { Interrupted, ShrapnelError, TimeoutError } from "../core/errors.ts";
import { Semaphore } from "../core/sync/semaphore.ts";
import { withTimeout } from "../core/with_timeout.ts";

/** Options shared by the SQL pools. */
export interface SqlPoolOptions {
  /** Most connections open at once (10); more callers wait for one to be free. */
  maxSize?: number;
  /**
   * Seconds a caller waits for a free connection (10); then {@linkcode PoolTimeoutError}.
   * Connecting a new one counts in it.
   */
  acquireTimeout?: number;
  /**
   * A connection idle longer than this many seconds is pinged before it is handed out (30);
   * 0 pings every time. One that fails the ping is replaced.
   */
  pingAfterIdle?: number;
  /** Seconds the ping may take (5). */
  pingTimeout?: number;
}

/**
 * No connection became free within `acquireTimeout`.
 *
 * @example
 * ```ts
 * import { PoolTimeoutError } from "./_sql_pool.ts";
 * console.log(new PoolTimeoutError(10, 10).message);
 * ```
 */
export class PoolTimeoutError extends ShrapnelError {
  /**
   * Makes the error.
   * @param seconds the wait that passed
   * @param maxSize the pool's size
   */
  constructor(seconds: number, maxSize: number) {
    super(`no free connection within ${seconds} s (all ${maxSize} in use)`);
  }
}

/** @internal What the pool needs of a client. */
export interface PoolDriver<C> {
  connect(): Promise<C>;
  /** Known dead (the peer closed it, an error broke it), without asking. */
  isDead(c: C): boolean;
  ping(c: C): Promise<void>;
  /** Says goodbye; interruption point. */
  close(c: C): Promise<void>;
  /** Closes the socket at once. */
  destroy(c: C): void;
  /** The error says the connection was lost (not an SQL error). */
  isLost(e: unknown): boolean;
}

interface Idle<C> {
  client: C;
  since: number;
}

/** @internal A pool of clients `C`. */
export class SqlPool<C> {
  readonly #driver: PoolDriver<C>;
  readonly #maxSize: number;
  readonly #acquireTimeout: number;
  readonly #pingAfterIdle: number;
  readonly #pingTimeout: number;
  readonly #slots: Semaphore;
  readonly #idle: Idle<C>[] = [];
  #open = 0;
  #closed = false;
  /** Dead connections found and replaced since start. */
  replaced = 0;
  /** Calls retried on a fresh connection since start. */
  retried = 0;

  constructor(driver: PoolDriver<C>, options: SqlPoolOptions) {
    this.#driver = driver;
    this.#maxSize = options.maxSize ?? 10;
    if (!Number.isInteger(this.#maxSize) || this.#maxSize < 1) {
      throw new RangeError(`maxSize must be a positive integer, not ${this.#maxSize}`);
    }
    this.#acquireTimeout = options.acquireTimeout ?? 10;
    this.#pingAfterIdle = (options.pingAfterIdle ?? 30) * 1000;
    this.#pingTimeout = options.pingTimeout ?? 5;
    this.#slots = new Semaphore(this.#maxSize);
  }

  get size(): number {
    return this.#open;
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** A healthy connection, waited for (with the deadline) and checked. */
  async acquire(): Promise<C> {
    if (this.#closed) throw new ShrapnelError("the pool is closed");
    try {
      return await withTimeout(this.#acquireTimeout, async () => {
        await this.#slots.acquire(1);
        try {
          return await this.#take();
        } catch (e) {
          this.#slots.release(1);
          throw e;
        }
      });
    } catch (e) {
      if (e instanceof TimeoutError && e.seconds === this.#acquireTimeout) {
        throw new PoolTimeoutError(this.#acquireTimeout, this.#maxSize);
      }
      throw e;
    }
  }

  async #take(): Promise<C> {
    for (;;) {
      const idle = this.#idle.pop();
      if (idle === undefined) break;
      if (this.#driver.isDead(idle.client)) {
        this.#discard(idle.client);
        continue;
      }
      if (performance.now() - idle.since >= this.#pingAfterIdle) {
        try {
          await withTimeout(this.#pingTimeout, () => this.#driver.ping(idle.client));
        } catch (e) {
          this.#discard(idle.client);
          if (e instanceof TimeoutError || this.#driver.isLost(e)) continue;
          throw e;
        }
      }
      return idle.client;
    }
    const client = await this.#driver.connect();
    this.#open++;
    return client;
  }

  #discard(client: C): void {
    this.#driver.destroy(client);
    this.#open--;
    this.replaced++;
  }

  /** Gives a connection back: kept if it is healthy and `reusable`, else closed. */
  release(client: C, reusable: boolean): void {
    if (!reusable || this.#closed || this.#driver.isDead(client)) {
      this.#driver.destroy(client);
      this.#open--;
    } else {
      this.#idle.push({ client, since: performance.now() });
    }
    this.#slots.release(1);
  }

  /**
   * Runs `fn` on a connection. If the connection turns out lost and `retrySafe`, runs it
   * once more on a fresh one.
   */
  async run<T>(fn: (c: C) => Promise<T>, retrySafe: boolean): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const client = await this.acquire();
      let reusable = false;
      try {
        const result = await fn(client);
        reusable = true;
        return result;
      } catch (e) {
        // An SQL error leaves the connection usable; anything else (lost, interrupted
        // mid-call) costs it.
        reusable = !this.#driver.isLost(e) && !(e instanceof Interrupted) &&
          !this.#driver.isDead(client);
        if (this.#driver.isLost(e) && retrySafe && attempt === 0) {
          this.retried++;
          continue;
        }
        throw e;
      } finally {
        this.release(client, reusable);
      }
    }
  }

  /** Closes the idle connections; those in use close when given back. Interruption point. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    for (const { client } of idle) {
      this.#open--;
      try {
        await this.#driver.close(client);
      } catch (e) {
        this.#driver.destroy(client);
        if (!this.#driver.isLost(e)) throw e;
      }
    }
  }
}
