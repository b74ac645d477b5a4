/**
 * Loaded first by `deno task test:asan` (`deno test --preload`): libasan is in this
 * process already (LD_PRELOAD is read at exec), so the variable is taken out of the
 * environment, and the servers and tools the tests start do not inherit it. Deno children
 * that load the ASan shim get it back through `denoChildEnv()` (tests/net/_backends.ts).
 */
const preload = Deno.env.get("LD_PRELOAD");
if (preload !== undefined) {
  Deno.env.set("SHRAPNEL_ASAN_PRELOAD", preload);
  Deno.env.delete("LD_PRELOAD");
}
