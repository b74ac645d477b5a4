/**
 * The root import stays cheap: its static module graph (what `import "@shrapnel/shrapnel"`
 * loads before any call) holds no npm package and no Node built-in but node:async_hooks
 * (the scheduler's). A protocol that needs one loads it on its first call (see
 * core/_lazy_import.ts and core/_node_builtin.ts), and HTTP/2's connection code is loaded by
 * the first HTTP/2 connection (proto/http/_h2_lazy.ts). bench/import.ts measures the time.
 */
import assert from "node:assert/strict";

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

async function staticImports(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, import.meta.url).href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: GraphModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [...info.roots];
  while (stack.length > 0) {
    const popped = stack.pop()!;
    const specifier = info.redirects[popped] ?? popped;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code) stack.push(dep.code.specifier);
    }
  }
  return seen;
}

for (const entry of ["../mod.ts", "../core/mod.ts", "../net/mod.ts"]) {
  Deno.test(`importing ${entry.slice(3)} loads no npm package and no Node built-in but async_hooks`, async () => {
    const loaded = [...await staticImports(entry)];
    assert.deepEqual(loaded.filter((s) => s.startsWith("npm:")), []);
    assert.deepEqual(loaded.filter((s) => s.startsWith("node:") && s !== "node:async_hooks"), []);
  });
}

Deno.test("the HTTP/2 connection code is loaded on first use, not by importing the root or /http", async () => {
  for (const entry of ["../mod.ts", "../proto/http/mod.ts"]) {
    const loaded = [...await staticImports(entry)].filter((s) =>
      /\/proto\/http\/h2\/(server_connection|client_connection|hpack|huffman|frames)\.ts$/.test(s)
    );
    assert.deepEqual(loaded, [], `${entry} loads ${loaded.join(", ")} at import`);
  }
});

/**
 * The protocols' implementations (wire codecs, client state machines, the SSH backdoor's
 * server) load on their first connect or serve (proto/_load_once.ts): the root import and
 * each protocol's subpath import load only its names, types, errors and small classes.
 */
const LAZY_IMPLEMENTATIONS = [
  "proto/amqp/_client.ts",
  "proto/amqp/_recovering.ts",
  "proto/amqp/codec.ts",
  "proto/backdoor/_ssh.ts",
  "proto/dns/_exchange.ts",
  "proto/dns/_lookups.ts",
  "proto/ftp/_client.ts",
  "proto/ldap/_client.ts",
  "proto/mysql/_client.ts",
  "proto/postgres/_client.ts",
  "proto/ssh/_client.ts",
];

Deno.test("the protocols' implementations are loaded on first use, not by importing the root or their subpath", async () => {
  const entries = [
    "../mod.ts",
    ...new Set(LAZY_IMPLEMENTATIONS.map((p) => `../${p.replace(/[^/]*$/, "mod.ts")}`)),
  ];
  for (const entry of entries) {
    const loaded = [...await staticImports(entry)].filter((s) =>
      LAZY_IMPLEMENTATIONS.some((p) => s.endsWith(`/${p}`))
    );
    assert.deepEqual(loaded, [], `${entry} loads ${loaded.join(", ")} at import`);
  }
  // The list names files that exist: a renamed implementation must be listed again.
  for (const path of LAZY_IMPLEMENTATIONS) {
    assert.ok((await Deno.stat(new URL(`../${path}`, import.meta.url))).isFile, path);
  }
});
