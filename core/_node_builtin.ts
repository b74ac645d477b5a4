/**
 * Node built-in modules loaded on first use. A static `import "node:stream"` (or zlib,
 * crypto, buffer) costs every program that imports shrapnel tens of milliseconds of start
 * even when it never uses them; `process.getBuiltinModule` loads one synchronously at the
 * first call that needs it.
 *
 * @module
 */

type BuiltinLoader = { getBuiltinModule(id: string): unknown };

/** The Node built-in `id` ("node:zlib"...), loaded at the first call. */
export function nodeBuiltin<T>(id: string): T {
  return (globalThis as unknown as { process: BuiltinLoader }).process.getBuiltinModule(id) as T;
}

/**
 * A constructor to extend in place of `base()`'s class without loading it yet: the first
 * `new` loads it and links the prototype chain (so methods and `instanceof` are the
 * base's from then on).
 */
export function lazyBaseClass<C extends abstract new (...args: never[]) => object>(
  base: () => C,
): C {
  let linked = false;
  function LazyBase(this: unknown, ...args: unknown[]): object {
    const real = base() as unknown as new (...args: unknown[]) => object;
    if (!linked) {
      Object.setPrototypeOf(LazyBase.prototype, real.prototype);
      Object.setPrototypeOf(LazyBase, real);
      linked = true;
    }
    return Reflect.construct(real, args, new.target);
  }
  return LazyBase as unknown as C;
}
