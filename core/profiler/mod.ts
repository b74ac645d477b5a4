/**
 * The thread-aware profiler: run and wait time per thread (charged at every switch),
 * time and calls per function (V8's sampling profiler and precise coverage), a
 * self-contained HTML report with a flame graph, JSON, and comparisons.
 *
 * @example
 * ```ts ignore
 * import { profile, renderHtml } from "./mod.ts";
 * const [, p] = await profile(() => serveForTenSeconds());
 * await Deno.writeTextFile("profile.html", renderHtml(p));
 * ```
 *
 * @module
 */

export * from "./profiler.ts";
export * from "./report.ts";
