/**
 * A local JSR registry for the consumer tests: serves the package's `deno publish
 * --dry-run` file set the way jsr.io does (`JSR_URL` pointed at it), so that a fresh
 * DENO_DIR resolves `jsr:@shrapnel/shrapnel` from it:
 *
 * - `<url>/@scope/name/meta.json`: the versions, the latest;
 * - `<url>/@scope/name/<version>_meta.json`: the manifest (each file's size and
 *   `sha256-<hex>` checksum, which Deno checks) and the exports;
 * - `<url>/@scope/name/<version>/<path>`: the files.
 *
 * As JSR does at publish, bare specifiers of the package's import map ("pg") are
 * rewritten in the served modules to what the map says ("npm:pg@8.23.1").
 */
import { sha256Hex } from "../../ffi/_prebuilt.ts";

const ROOT = new URL("../../", import.meta.url);

/** The registry, serving until `close()`. */
export interface LocalRegistry {
  /** JSR_URL for it, ending in "/". */
  url: string;
  /** The package's name and version, e.g. "@shrapnel/shrapnel" and "0.1.0". */
  name: string;
  version: string;
  /** The paths it serves ("/mod.ts"...). */
  files: string[];
  close(): Promise<void>;
}

/** The files `deno publish --dry-run` would publish, as paths from the package root. */
async function publishedFiles(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: decodeURIComponent(ROOT.pathname),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`deno publish --dry-run failed:\n${text}`);
  const files = [...text.matchAll(/(file:\/\/\S+) \(/g)]
    .map((m) => decodeURIComponent(new URL(m[1]).pathname).slice(ROOT.pathname.length - 1));
  if (files.length === 0) throw new Error(`no files in the dry run's output:\n${text}`);
  return files;
}

/** Rewrites the import map's bare specifiers in `source`, as JSR's publish does. */
function unfurl(source: string, imports: Record<string, string>): string {
  return source.replace(
    /(from\s+|import\s*\(\s*|import\s+|@ts-types=)"([^"./][^"]*)"/g,
    (whole, lead: string, specifier: string) => {
      const mapped = imports[specifier];
      return mapped === undefined ? whole : `${lead}"${mapped}"`;
    },
  );
}

/** Starts the registry on 127.0.0.1 at a free port. */
export async function startRegistry(): Promise<LocalRegistry> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    name: string;
    version: string;
    exports: Record<string, string>;
    imports: Record<string, string>;
  };
  const files = await publishedFiles();
  const bodies = new Map<string, Uint8Array>();
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const path of files) {
    let body = await Deno.readFile(new URL(`.${path}`, ROOT));
    if (/\.(ts|js|mts|tsx)$/.test(path)) {
      body = new TextEncoder().encode(unfurl(new TextDecoder().decode(body), config.imports));
    }
    bodies.set(path, body);
    manifest[path] = { size: body.length, checksum: `sha256-${await sha256Hex(body)}` };
  }
  const [scope, name] = config.name.slice(1).split("/");
  const base = `/@${scope}/${name}`;
  const meta = JSON.stringify({
    scope,
    name,
    latest: config.version,
    versions: { [config.version]: {} },
  });
  const versionMeta = JSON.stringify({ manifest, exports: config.exports });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    const json = { headers: { "content-type": "application/json" } };
    if (path === `${base}/meta.json`) return new Response(meta, json);
    if (path === `${base}/${config.version}_meta.json`) return new Response(versionMeta, json);
    const prefix = `${base}/${config.version}`;
    const body = path.startsWith(prefix) ? bodies.get(path.slice(prefix.length)) : undefined;
    if (body === undefined) return new Response("not found", { status: 404 });
    return new Response(body as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/typescript" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    name: config.name,
    version: config.version,
    files,
    close: () => server.shutdown(),
  };
}
