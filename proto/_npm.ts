/**
 * The npm packages protocols load on first use, by the full specifiers of deno.json's
 * import map, imported through a specifier Deno's module graph does not see.
 *
 * Why not `import("pg")`: Deno follows a dynamic import with a literal specifier when it
 * builds a program's module graph, so the first run of a program that imports shrapnel
 * from JSR downloaded and installed every such package (pg, mysql2, ssh2 and their
 * dependencies, 38 tarballs, and Deno's "Ignored build scripts" warning for ssh2's native
 * parts), though only a program that speaks Postgres needs pg. A specifier the graph
 * cannot see is fetched when the import runs, and then only that package. It is the full
 * specifier, version included, because JSR rewrites the import map's bare names only where
 * it can read them (tests/import_cost_test.ts keeps this table equal to deno.json's).
 *
 * `deno compile` does not see these imports either: a compiled program that uses a
 * protocol passes its package with `--include` (e.g. `--include npm:pg@8.23.1`).
 *
 * @module
 */

/** Each package by the name deno.json's import map gives it. */
export const NPM_PACKAGES = {
  "acorn": "npm:acorn@8.19.0",
  "asn1js": "npm:asn1js@4.0.0",
  "dns-packet": "npm:dns-packet@5.6.1",
  "mysql2": "npm:mysql2@3.25.0",
  "pg": "npm:pg@8.23.1",
  "pg-copy-streams": "npm:pg-copy-streams@7.0.0",
  "ssh2": "npm:ssh2@1.17.0",
} as const;

/** A package of {@linkcode NPM_PACKAGES}. */
export type NpmPackage = keyof typeof NPM_PACKAGES;

/**
 * Imports `name`'s package (the caller states its type: `importNpm<typeof Pg>("pg")`).
 * Not an interruption point by itself: callers wait through `awaitModule`/`loadOnce`.
 */
export function importNpm<T>(name: NpmPackage): Promise<T> {
  const specifier: string = NPM_PACKAGES[name];
  return import(specifier);
}
