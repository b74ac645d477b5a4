/**
 * Same fringe, after the original's demo: do two trees have the same leaves in the same
 * order, whatever their shapes? Two walker threads each feed one tree's leaves into a
 * Fifo, at most `lookahead` leaves ahead of the comparison (a semaphore gives the
 * credit), and the comparison stops both at the first difference: neither tree is walked
 * further than needed.
 *
 * @module
 */

import { Fifo } from "../../core/sync/fifo.ts";
import { Semaphore } from "../../core/sync/semaphore.ts";
import { spawn, type Thread } from "../../core/thread.ts";

/** A tree: a leaf, or an array of subtrees (a leaf is anything but an array). */
export type Tree<T> = T | readonly Tree<T>[];

/** How two fringes compare. */
export interface FringeComparison<T> {
  /** Whether the fringes are the same. */
  same: boolean;
  /** Leaves compared equal before the answer (the index of the first difference). */
  compared: number;
  /** The leaves at the first difference (undefined for a fringe that had ended). */
  difference?: { left: T | undefined; right: T | undefined };
  /** Leaves each walker produced: at most `compared + lookahead + 1`. */
  walked: [number, number];
}

const END = Symbol("end of fringe");

/** A walker's channel: leaves, and credit for how many may be ahead. */
class Leaves<T> {
  readonly fifo = new Fifo<T | typeof END>();
  readonly credit: Semaphore;
  walked = 0;
  constructor(lookahead: number) {
    this.credit = new Semaphore(lookahead);
  }
}

/** Walks `tree` depth first, left to right, without recursion (any depth). */
async function walk<T>(tree: Tree<T>, out: Leaves<T>): Promise<void> {
  const stack: [readonly Tree<T>[], number][] = [];
  let node: Tree<T> | undefined = tree;
  for (;;) {
    if (node !== undefined) {
      if (Array.isArray(node)) {
        stack.push([node as readonly Tree<T>[], 0]);
      } else {
        await out.credit.acquire();
        out.walked++;
        out.fifo.push(node as T);
      }
      node = undefined;
    }
    const top = stack.at(-1);
    if (top === undefined) break;
    if (top[1] < top[0].length) node = top[0][top[1]++];
    else stack.pop();
  }
  out.fifo.push(END);
}

/**
 * Compares the fringes of `a` and `b` with a walker thread each. Must run in a thread.
 *
 * Interruption point: both walkers are shut down and the interruption thrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../../mod.ts";
 * import { compareFringes } from "./fringe.ts";
 * const r = await spawn(() => compareFringes([1, [2, [3]]], [[1, 2], 3])).join();
 * assert.equal(r.same, true);
 * ```
 */
export async function compareFringes<T>(
  a: Tree<T>,
  b: Tree<T>,
  options: { equal?: (x: T, y: T) => boolean; lookahead?: number } = {},
): Promise<FringeComparison<T>> {
  const equal = options.equal ?? Object.is;
  const lookahead = options.lookahead ?? 1;
  const left = new Leaves<T>(lookahead), right = new Leaves<T>(lookahead);
  const walkers: Thread[] = [
    spawn({ name: "fringe walker left" }, walk<T>, a, left),
    spawn({ name: "fringe walker right" }, walk<T>, b, right),
  ];
  try {
    for (let compared = 0;; compared++) {
      const x = await left.fifo.pop(), y = await right.fifo.pop();
      if (x === END && y === END) {
        return { same: true, compared, walked: [left.walked, right.walked] };
      }
      if (x === END || y === END || !equal(x, y)) {
        return {
          same: false,
          compared,
          difference: { left: x === END ? undefined : x, right: y === END ? undefined : y },
          walked: [left.walked, right.walked],
        };
      }
      left.credit.release();
      right.credit.release();
    }
  } finally {
    for (const w of walkers) w.shutdown();
  }
}

/**
 * Whether `a` and `b` have the same leaves in the same order. Must run in a thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../../mod.ts";
 * import { sameFringe } from "./fringe.ts";
 * assert.equal(await spawn(() => sameFringe([1, [2, 3]], [1, [2, 4]])).join(), false);
 * ```
 */
export async function sameFringe<T>(a: Tree<T>, b: Tree<T>): Promise<boolean> {
  return (await compareFringes(a, b)).same;
}
