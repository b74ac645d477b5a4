/**
 * Reports messages dropped as garbage without letting their sender flood stderr: anyone who
 * can publish on the broker can send garbage in a loop.
 * @module
 */
import { now } from "../../../core/clock.ts";

/**
 * Writes the first drop in full, then at most one line per `intervalSeconds` (10) with the
 * counts of the drops since the last line, by kind. The line is written by a drop (no timer
 * to outlive its owner): drops after the last line wait for the next one, and every drop is
 * in the owner's statistics anyway.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DropReport } from "./_drop_report.ts";
 * const lines: string[] = [];
 * const report = new DropReport("shard 0", { write: (line) => lines.push(line) });
 * for (let i = 0; i < 1000; i++) report.dropped("a message in its handoff queue", "garbage");
 * assert.equal(lines.length, 1);
 * assert.equal(report.pending, 999);
 * ```
 */
export class DropReport {
  readonly #who: string;
  readonly #intervalSeconds: number;
  readonly #write: (line: string) => void;
  #lastLine = -Infinity;
  #reported = false;
  readonly #pending = new Map<string, number>();
  #pendingTotal = 0;

  /**
   * @param who names the reporter in each line ("shard 3", "gateway")
   * @param options `intervalSeconds` between lines (10); `write` a line (to stderr)
   */
  constructor(
    who: string,
    options: { intervalSeconds?: number; write?: (line: string) => void } = {},
  ) {
    this.#who = who;
    this.#intervalSeconds = options.intervalSeconds ?? 10;
    this.#write = options.write ?? ((line) => console.error(line));
  }

  /** Drops counted but not yet written. */
  get pending(): number {
    return this.#pendingTotal;
  }

  /** Counts a drop of `what` (why: its error), and writes a line if one is due. */
  dropped(what: string, why: unknown): void {
    const t = now();
    if (!this.#reported) {
      this.#reported = true;
      this.#lastLine = t;
      this.#write(
        `${this.#who}: dropped ${what}: ${why} (further drops: one line per ` +
          `${this.#intervalSeconds} s at most)`,
      );
      return;
    }
    this.#pending.set(what, (this.#pending.get(what) ?? 0) + 1);
    this.#pendingTotal++;
    if (t - this.#lastLine < this.#intervalSeconds) return;
    const kinds = [...this.#pending].map(([kind, n]) => `${n} × ${kind}`).join(", ");
    this.#write(
      `${this.#who}: dropped ${this.#pendingTotal} more in ${Math.round(t - this.#lastLine)} s ` +
        `(${kinds}); the last: ${why}`,
    );
    this.#lastLine = t;
    this.#pending.clear();
    this.#pendingTotal = 0;
  }
}
