/**
 * Finding and installing the FFI shim: prebuilt downloads checked against their pinned
 * SHA-256 (served by a local HTTP server), the build command named for each kind of
 * install, and the one-line notice when "auto" falls back to the portable backend.
 */
import assert from "node:assert/strict";
import { installShim, ShimInstallError } from "../../ffi/build_entry.ts";
import {
  downloadPrebuilt,
  type PrebuiltPins,
  PrebuiltShimError,
  sha256Hex,
} from "../../ffi/_prebuilt.ts";
import { buildCommand } from "../../ffi/_loader.ts";
import { SHIM_SOURCE_SHA256 } from "../../ffi/_shim_source.ts";
import { cachedLibraryPath, targetName } from "../../ffi/library.ts";

/** Serves `files` (name to bytes) on 127.0.0.1; counts the requests. */
function fileServer(files: Record<string, Uint8Array>) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    requests++;
    const body = files[new URL(request.url).pathname.slice(1)];
    return body === undefined
      ? new Response("not found", { status: 404 })
      : new Response(body as Uint8Array<ArrayBuffer>);
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

const LIBRARY = new TextEncoder().encode("\x7fELF pretend shared library bytes");

async function pinsFor(baseUrl: string, body: Uint8Array): Promise<PrebuiltPins> {
  return {
    source: SHIM_SOURCE_SHA256,
    baseUrl,
    files: { [targetName()]: { name: "libshrapnel-test", sha256: await sha256Hex(body) } },
  };
}

Deno.test("a prebuilt shim is downloaded, checked against its pin and cached", async () => {
  const server = fileServer({ "libshrapnel-test": LIBRARY });
  const cacheRoot = await Deno.makeTempDir();
  try {
    const pins = await pinsFor(server.baseUrl, LIBRARY);
    const path = await installShim({ cacheRoot, pins, prefer: "download" });
    assert.equal(path, cachedLibraryPath(cacheRoot, SHIM_SOURCE_SHA256));
    assert.deepEqual(await Deno.readFile(path), LIBRARY);
    assert.equal(server.requests(), 1);
    assert.equal(await installShim({ cacheRoot, pins, prefer: "download" }), path);
    assert.equal(server.requests(), 1, "a cached shim is not downloaded again");
  } finally {
    await server.close();
    await Deno.remove(cacheRoot, { recursive: true });
  }
});

Deno.test("a download that does not match its pin is refused and leaves nothing", async () => {
  const tampered = new TextEncoder().encode("\x7fELF something else");
  const server = fileServer({ "libshrapnel-test": tampered });
  const cacheRoot = await Deno.makeTempDir();
  try {
    const pins = await pinsFor(server.baseUrl, LIBRARY);
    await assert.rejects(
      installShim({ cacheRoot, pins, prefer: "download" }),
      (e) => e instanceof PrebuiltShimError && /is not the pinned/.test(e.message),
    );
    const left = [...Deno.readDirSync(`${cacheRoot}/${SHIM_SOURCE_SHA256}`)].map((e) => e.name);
    assert.deepEqual(left, [], "no library and no temporary file is left");
  } finally {
    await server.close();
    await Deno.remove(cacheRoot, { recursive: true });
  }
});

Deno.test("a download over the size cap, or an HTTP error, is a PrebuiltShimError", async () => {
  const server = fileServer({ "libshrapnel-test": new Uint8Array(4096) });
  const dir = await Deno.makeTempDir();
  try {
    const pins = await pinsFor(server.baseUrl, new Uint8Array(4096));
    await assert.rejects(
      downloadPrebuilt(pins, targetName(), `${dir}/lib`, { maxBytes: 1024 }),
      (e) => e instanceof PrebuiltShimError && /more than 1024 bytes/.test(e.message),
    );
    const missing = { ...pins, files: { [targetName()]: { name: "nothere", sha256: "00" } } };
    await assert.rejects(
      downloadPrebuilt(missing, targetName(), `${dir}/lib`),
      (e) => e instanceof PrebuiltShimError && /HTTP 404/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without pins for this source and machine, the error says to install a compiler", async () => {
  const cacheRoot = await Deno.makeTempDir();
  try {
    for (
      const pins of [null, { source: "0".repeat(64), baseUrl: "http://127.0.0.1:9/", files: {} }]
    ) {
      await assert.rejects(
        installShim({ cacheRoot, pins, prefer: "download" }),
        (e) => e instanceof ShimInstallError && /no prebuilt shim is pinned/i.test(e.message),
      );
    }
  } finally {
    await Deno.remove(cacheRoot, { recursive: true });
  }
});

Deno.test("the build command fits the install: checkout, JSR, other URL", () => {
  assert.match(
    buildCommand("file:///src/shrapnel/ffi/_loader.ts"),
    /^deno task --cwd \/src\/shrapnel build:ffi$/,
  );
  assert.equal(
    buildCommand("https://jsr.io/@shrapnel/shrapnel/0.3.1/ffi/_loader.ts"),
    "deno run --allow-read --allow-write --allow-env --allow-run --allow-net " +
      "jsr:@shrapnel/shrapnel@0.3.1/build-ffi",
  );
  assert.match(
    buildCommand("https://example.test/x/shrapnel/ffi/_loader.ts"),
    / https:\/\/example\.test\/x\/shrapnel\/ffi\/build_entry\.ts$/,
  );
});

const PROBE = `
import { activeBackend, tcpSocket } from ${
  JSON.stringify(new URL("../../net/mod.ts", import.meta.url).href)
};
console.log(activeBackend(), activeBackend(), tcpSocket().backend);
`;

async function probe(permissions: string[], env: Record<string, string> = {}) {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(script, PROBE);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, script],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(script));
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return {
    stdout: new TextDecoder().decode(out.stdout).trim(),
    notices: new TextDecoder().decode(out.stderr).split("\n").filter((l) => l !== ""),
  };
}

Deno.test("an automatic fallback says why once, with the fix; an explicit choice does not", async () => {
  const noFfi = await probe(["--allow-env"]);
  assert.equal(noFfi.stdout, "deno deno deno");
  assert.equal(noFfi.notices.length, 1, noFfi.notices.join("\n"));
  assert.match(
    noFfi.notices[0],
    /^shrapnel: .*no --allow-ffi permission; fix: run with --allow-ffi/,
  );
  assert.match(noFfi.notices[0], /SHRAPNEL_BACKEND=deno/);

  const badPath = await probe(["--allow-env", "--allow-ffi"], {
    SHRAPNEL_SHIM: "/nonexistent/lib.so",
  });
  assert.equal(badPath.notices.length, 1, badPath.notices.join("\n"));
  assert.match(badPath.notices[0], /cannot open SHRAPNEL_SHIM=\/nonexistent\/lib\.so/);

  const chosen = await probe(["--allow-env"], { SHRAPNEL_BACKEND: "deno" });
  assert.equal(chosen.stdout, "deno deno deno");
  assert.deepEqual(chosen.notices, []);
});
