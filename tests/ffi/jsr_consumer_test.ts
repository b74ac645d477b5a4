/**
 * A program that imports shrapnel from JSR gets the FFI backend: the package's published
 * file set served by a local registry (JSR_URL), a fresh DENO_DIR, the build-ffi entry,
 * then an echo server on the FFI backend, and an HTTP/2 connection (whose code the package
 * loads on first use). Before the build, the fallback to the portable backend is said
 * once, with the command that fixes it. Nothing else is fetched for that program: no npm
 * package a protocol loads on first use (the DNS codec's first use fetches its own).
 */
import assert from "node:assert/strict";
import { startRegistry } from "./_registry.ts";
import { installed } from "../_servers.ts";

const CONSUMER = `
import {
  activeBackend,
  connectTo,
  HttpServer,
  listenOn,
  quiesceFfiPoller,
  spawn,
} from "jsr:@shrapnel/shrapnel";
const listener = listenOn("127.0.0.1:0");
const { port } = listener.localAddress() as { port: number };
const server = spawn(async () => {
  const [conn] = await listener.accept();
  await conn.sendAll(await conn.recvExact(4));
  conn.close();
});
const echoed = await spawn(async () => {
  const conn = await connectTo(\`127.0.0.1:\${port}\`);
  await conn.sendAll(new TextEncoder().encode("ping"));
  const reply = new TextDecoder().decode(await conn.recvExact(4));
  conn.close();
  return reply;
}).join();
await server.join();
listener.close();
// HTTP/2 by prior knowledge: its connection code is a module the package loads on first use.
const http = new HttpServer();
http.route("GET", "/", (r) => r.respond(200, "hi"));
http.listen("127.0.0.1:0");
const raw = await Deno.connect({ hostname: "127.0.0.1", port: (http.address as { port: number }).port });
const giveUp = setTimeout(() => raw.close(), 10_000);
await raw.write(new TextEncoder().encode("PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"));
await raw.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0])); // an empty SETTINGS frame
const frame = new Uint8Array(9);
let got = 0;
while (got < 9) {
  const n = await raw.read(frame.subarray(got));
  if (n === null) break;
  got += n;
}
clearTimeout(giveUp);
raw.close();
await spawn(() => http.close()).join();
const settings = got === 9 && frame[3] === 4; // the server's SETTINGS frame came first
console.log(JSON.stringify({ backend: activeBackend(), echoed, settings }));
await quiesceFfiPoller();
`;

const DNS_CONSUMER = `
import { decodeMessage, encodeQuery, loadDnsCodec } from "jsr:@shrapnel/shrapnel/dns";
await loadDnsCodec();
console.log(decodeMessage(encodeQuery(7, "example.test", "A", true)).id);
`;

function passThrough(names: string[]): Record<string, string> {
  return Object.fromEntries(
    names.flatMap((name) => {
      const value = Deno.env.get(name);
      return value === undefined ? [] : [[name, value]];
    }),
  );
}

const compiler = installed("/usr/bin/cc") || installed("/usr/local/bin/cc");
const ci = Deno.env.get("CI") === "true";

Deno.test({
  name: `a JSR consumer builds the shim and gets the FFI backend${
    compiler || ci ? "" : " (skipped: no C compiler at /usr/bin/cc)"
  }`,
  ignore: Deno.build.os === "windows" || (!compiler && !ci),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(compiler, "no C compiler (CI must install one)");
    const registry = await startRegistry();
    const dir = await Deno.makeTempDir({ prefix: "shrapnel-jsr-consumer-" });
    try {
      assert.ok(registry.files.includes("/ffi/build_entry.ts"), "build-ffi is published");
      assert.ok(!registry.files.includes("/deno.lock"), "deno.lock is not published");
      await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
      await Deno.writeTextFile(`${dir}/echo.ts`, CONSUMER);
      const host = new URL(registry.url).host;
      const env = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: dir,
        DENO_DIR: `${dir}/deno_dir`,
        JSR_URL: registry.url,
        SHRAPNEL_CACHE_DIR: `${dir}/cache`,
        NO_COLOR: "1",
        // How this machine reaches the npm registry (CA bundle, proxy), if it is set.
        ...passThrough([
          "SSL_CERT_FILE",
          "SSL_CERT_DIR",
          "NODE_EXTRA_CA_CERTS",
          "DENO_CERT",
          "DENO_TLS_CA_STORE",
          "HTTPS_PROXY",
          "HTTP_PROXY",
          "NO_PROXY",
          "NPM_CONFIG_REGISTRY",
        ]),
      };
      const run = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", `--allow-import=${host}`, ...args],
          cwd: dir,
          env,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(120_000),
        }).output();
        return {
          ok: out.success,
          stdout: new TextDecoder().decode(out.stdout),
          stderr: new TextDecoder().decode(out.stderr),
        };
      };
      const echoPermissions = ["--allow-net=127.0.0.1", "--allow-ffi", "--allow-env", "echo.ts"];

      const before = await run(echoPermissions);
      assert.ok(before.ok, before.stderr);
      assert.deepEqual(JSON.parse(before.stdout), {
        backend: "deno",
        echoed: "ping",
        settings: true,
      });
      const warnings = before.stderr.split("\n").filter((l) => l.startsWith("shrapnel:"));
      assert.equal(warnings.length, 1, before.stderr);
      const fix = `jsr:${registry.name}@${registry.version}/build-ffi`;
      assert.ok(warnings[0].includes(fix), warnings[0]);

      const build = await run([
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-run",
        "--allow-net",
        fix,
      ]);
      assert.ok(build.ok, build.stderr);
      assert.match(
        build.stderr,
        /FFI shim ready at .*\/cache\/[0-9a-f]{64}\/libshrapnel\.(so|dylib)/,
      );

      const after = await run(echoPermissions);
      assert.ok(after.ok, after.stderr);
      assert.deepEqual(JSON.parse(after.stdout), {
        backend: "ffi",
        echoed: "ping",
        settings: true,
      });
      assert.ok(!after.stderr.includes("shrapnel:"), after.stderr);
      // Nothing but the package itself was fetched for sockets: no npm package a protocol
      // loads on first use (not even its metadata), no install, no build-script warning.
      const foreign = (before.stderr + after.stderr).split("\n")
        .filter((line) => line.startsWith("Download ") && !line.includes(host));
      assert.deepEqual(foreign, [], "fetched for sockets");
      assert.ok(!/Ignored build scripts/.test(before.stderr + after.stderr), before.stderr);

      // The control: this environment does reach the npm registry, and a protocol's first
      // use fetches its package, that one only.
      await Deno.writeTextFile(`${dir}/dns.ts`, DNS_CONSUMER);
      const dns = await run(["--allow-env", "dns.ts"]);
      assert.ok(dns.ok, dns.stderr);
      assert.equal(dns.stdout.trim(), "7");
      const tarballs = dns.stderr.match(/Download \S+\.tgz/g) ?? [];
      assert.ok(tarballs.some((t) => /\/dns-packet-[\d.]+\.tgz$/.test(t)), dns.stderr);
      assert.deepEqual(
        tarballs.filter((t) => !/\/(dns-packet|ip-codec)-[\d.]+\.tgz$/.test(t)),
        [],
        "fetched for a DNS codec",
      );
    } finally {
      await registry.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
