/**
 * Lengths that cross into the FFI shim, checked in one place (see docs/ffi-safety.md): a
 * length handed to C is always derived from the buffer it describes, read through the
 * engine's own `byteLength` (a subclass cannot lie about it), right before the call.
 *
 * @module
 */

/** The largest byte count one call moves (what the shim's i32 lengths can carry). */
export const MAX_IO = 0x7fffffff;

/** The most regions one `readv` fills (IOV_MAX on Linux and macOS; the shim's MAX_IOV). */
export const MAX_IOV = 1024;

const intrinsicByteLength = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  "byteLength",
)!.get!;

/**
 * The real byte length of a typed array: the engine's %TypedArray%.prototype.byteLength,
 * which a subclass's `length` or `byteLength` getter cannot override. 0 once detached.
 * @throws {TypeError} if `view` is not a typed array
 */
export const byteLengthOf = Function.prototype.call.bind(intrinsicByteLength) as (
  view: ArrayBufferView,
) => number;

/** `view`'s byte length capped at {@linkcode MAX_IO}: what one call may move. */
export function ioLength(view: ArrayBufferView): number {
  const n = byteLengthOf(view);
  return n < MAX_IO ? n : MAX_IO;
}

/**
 * Checks a size a caller asked for: an integer in 0..{@linkcode MAX_IO}.
 * @throws {RangeError} otherwise
 */
export function checkSize(size: number, what: string): number {
  if (!Number.isInteger(size) || size < 0 || size > MAX_IO) {
    throw new RangeError(`${what} must be an integer from 0 to ${MAX_IO}, not ${size}`);
  }
  return size;
}

/**
 * Checks `readv` sizes: at most {@linkcode MAX_IOV} of them, each and their total an
 * integer in 0..{@linkcode MAX_IO}. Returns them as the shim takes them, with the total.
 * @throws {RangeError} otherwise
 */
export function readvSizes(sizes: readonly number[]): { lengths: Uint32Array; total: number } {
  const count = sizes.length;
  if (!Number.isInteger(count) || count > MAX_IOV) {
    throw new RangeError(`readv takes at most ${MAX_IOV} sizes, not ${count}`);
  }
  const lengths = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const size = checkSize(sizes[i], `readv size ${i}`);
    lengths[i] = size;
    total += size; // from the checked value, never from what the array stored
  }
  if (total > MAX_IO) throw new RangeError(`readv sizes total ${total}, more than ${MAX_IO}`);
  return { lengths, total };
}
