/**
 * The root import stays cheap: its static module graph (what `import "@shrapnel/shrapnel"`
 * loads before any call) holds no npm package and no Node built-in but node:async_hooks
 * (the scheduler's). A protocol that needs one loads it on its first call (see
 * core/_lazy_import.ts and core/_node_builtin.ts), and HTTP/2's connection code is loaded by
 * the first HTTP/2 connection (proto/http/_h2_lazy.ts), and the implementations behind the
 * cluster supervisor, the profiler, the HTTP client, fetch/JSON-RPC/static-files/WebSocket
 * handlers, `shrapnelFetch` and `connectWebSocket` by their first use. bench/import.ts
 * measures the time.
 */
import assert from "node:assert/strict";

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Every module of `entry`'s graph, dynamic imports included. */
async function allModules(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, import.meta.url).href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: GraphModule[] };
  return new Set(info.modules.map((m) => m.specifier));
}

/** The modules reached from `entry` as code: through static imports, and dynamic ones too. */
async function reached(entry: string, dynamic: boolean): Promise<Set<string>> {
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
      if ((dynamic || !dep.isDynamic) && dep.code) stack.push(dep.code.specifier);
    }
  }
  return seen;
}

/** What importing `entry` loads: its static graph. */
const staticImports = (entry: string) => reached(entry, false);

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
      /\/proto\/http\/h2\/(server_connection|client_connection|hpack|huffman|frames|request)\.ts$/
        .test(s)
    );
    assert.deepEqual(loaded, [], `${entry} loads ${loaded.join(", ")} at import`);
  }
});

/** Implementations loaded by their first use (`awaitModule`), never by an import. */
const LAZY_MODULES = [
  "net/_supervisor.ts",
  "core/profiler/_recording.ts",
  "proto/http/_http_client.ts",
  "proto/http/_fetch_handler.ts",
  "proto/http/_fetch_request.ts",
  "proto/http/_fetch_response.ts",
  "proto/http/_json_rpc_handler.ts",
  "proto/http/_shrapnel_fetch.ts",
  "proto/http/_static_files.ts",
  "proto/http/_server_connection.ts",
  "proto/http/h2/request.ts",
  "proto/websocket/_client_handshake.ts",
  "proto/websocket/_server_handshake.ts",
  // The protocols' wire codecs and client state machines, the SSH backdoor's server
  // (proto/_load_once.ts, by the first connect or serve).
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

Deno.test("the implementations loaded on first use are not reached by any import", async () => {
  const root = new URL("../", import.meta.url);
  const lazy = LAZY_MODULES.map((path) => new URL(path, root).href);
  // Each is still in the root's graph, as a dynamic import: the list names real modules.
  const everything = await allModules("../mod.ts");
  assert.deepEqual(lazy.filter((m) => !everything.has(m)), [], "not in the root's graph at all");
  for (
    const entry of [
      "../mod.ts",
      "../net/mod.ts",
      "../core/profiler/mod.ts",
      "../proto/http/mod.ts",
      "../proto/websocket/mod.ts",
      ...["amqp", "backdoor", "dns", "ftp", "ldap", "mysql", "postgres", "ssh"].map((name) =>
        `../proto/${name}/mod.ts`
      ),
    ]
  ) {
    const loaded = await staticImports(entry);
    const reached = lazy.filter((m) => loaded.has(m));
    assert.deepEqual(reached, [], `${entry} loads ${reached.join(", ")} at import`);
  }
});

Deno.test("no npm package is in any entry's module graph, not even behind a dynamic import", async () => {
  // Deno fetches and installs what a graph's dynamic imports name at a program's first run
  // (from JSR: 38 tarballs and ssh2's build-script warning for an import of the root), so
  // protocols import their packages through proto/_npm.ts, out of the graph's sight.
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  ) as { exports: Record<string, string> };
  for (const path of Object.values(config.exports)) {
    const npm = [...await reached(`.${path}`, true)].filter((s) => s.startsWith("npm:"));
    assert.deepEqual(npm, [], `${path} names ${npm.join(", ")} in its graph`);
  }
});

Deno.test("the npm packages protocols load are the versions deno.json pins", async () => {
  const { NPM_PACKAGES } = await import("../proto/_npm.ts");
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  ) as { imports: Record<string, string> };
  for (const [name, specifier] of Object.entries(NPM_PACKAGES)) {
    assert.equal(specifier, config.imports[name], `proto/_npm.ts's ${name}`);
  }
  // And every package a module under core/, net/ or proto/ imports lazily is in the table:
  // a literal `import("pg")` would put it back into the graph (the test above), a computed
  // one outside the table would miss JSR's rewriting of bare names.
  const names = Object.keys(NPM_PACKAGES);
  for (const dir of ["core", "net", "proto"]) {
    for await (const file of walkTs(new URL(`../${dir}/`, import.meta.url))) {
      const text = await Deno.readTextFile(file);
      for (const m of text.matchAll(/importNpm<[^>]*>\(\s*"([^"]+)"/g)) {
        assert.ok(names.includes(m[1]), `${file.pathname}: importNpm("${m[1]}") not in the table`);
      }
    }
  }
});

async function* walkTs(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walkTs(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}
