/**
 * Strings by their bytes, kept from one head to the next: most names and many values
 * (Host, User-Agent, Accept, the paths of a busy route) repeat, and comparing bytes
 * with a kept string costs less than making a new string in V8 (about 100 ns even for
 * a short one).
 *
 * @module
 */

/** Latin-1 text of `bytes[from..to)`. */
function latin1(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode.apply(null, bytes.subarray(from, to) as unknown as number[]);
}

/**
 * @internal A table of strings by a hash of their bytes (the caller computes the hash
 * while it scans the bytes anyway). A slot keeps the last string that hashed to it.
 */
export class InternedStrings {
  readonly #slots: (string | undefined)[];
  readonly #mask: number;
  readonly #maxLength: number;
  readonly #fold: boolean;

  /**
   * @param size slots, a power of two
   * @param maxLength longer strings are made each time, not kept
   * @param fold whether the strings are the bytes in lower case (ASCII letters)
   */
  constructor(size: number, maxLength: number, fold: boolean) {
    this.#slots = new Array(size).fill(undefined);
    this.#mask = size - 1;
    this.#maxLength = maxLength;
    this.#fold = fold;
  }

  /**
   * The string of `bytes[from..to)` (lower-cased if this table folds), whose `hash` the
   * caller computed with {@linkcode hashByte} over the same bytes (folded if it folds).
   */
  get(bytes: Uint8Array, from: number, to: number, hash: number): string {
    const length = to - from;
    if (length > this.#maxLength) return this.#make(bytes, from, to);
    const slot = hash & this.#mask;
    const kept = this.#slots[slot];
    if (kept !== undefined && kept.length === length) {
      let i = 0;
      if (this.#fold) {
        for (; i < length; i++) {
          let b = bytes[from + i];
          if (b >= 65 && b <= 90) b += 32;
          if (kept.charCodeAt(i) !== b) break;
        }
      } else {
        for (; i < length; i++) if (kept.charCodeAt(i) !== bytes[from + i]) break;
      }
      if (i === length) return kept;
    }
    return this.#slots[slot] = this.#make(bytes, from, to);
  }

  #make(bytes: Uint8Array, from: number, to: number): string {
    const text = latin1(bytes, from, to);
    return this.#fold ? text.toLowerCase() : text;
  }
}

/** The hash after one more byte (callers fold letters with `| 0x20` for folding tables). */
export function hashByte(hash: number, byte: number): number {
  return (hash * 31 + byte) | 0;
}
