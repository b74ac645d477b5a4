/**
 * Real HTTP/2 peers against our server: curl over TLS (ALPN h2) and by prior knowledge,
 * nghttp (Debian's nghttp2-client), and headless Chromium loading a page over h2 (the
 * protocol the browser reports is asserted).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { spawn } from "../../../mod.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import { certificateFiles, installed } from "../../_servers.ts";

const ci = Deno.env.get("CI") === "true";

/** Registers a test needing `binary`: skipped with the reason without it, failing under CI. */
function peerTest(name: string, binary: string, fn: () => Promise<void>): void {
  const there = installed(binary);
  Deno.test({
    name: `${name}${there || ci ? "" : ` (skipped: no ${binary})`}`,
    ignore: !there && !ci,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      assert.ok(there, `${binary} is missing (CI must install it)`);
      await fn();
    },
  });
}

/** Our server (TLS if `tls`), with a page, a script and an echo; run `fn`, then close. */
async function withServer(
  tls: { cert: string; key: string } | null,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const server = await spawn(() => {
    const s = new HttpServer({ onError: () => {} });
    s.route("GET", "/", (r) =>
      r.respond(
        200,
        `<!doctype html><title>h2</title><script src="/app.js"></script><p id="v">${r.version}</p>`,
        { "content-type": "text/html; charset=utf-8" },
      ));
    s.route("GET", "/app.js", (r) =>
      r.respond(200, `globalThis.loaded = "${r.version}";`, {
        "content-type": "text/javascript",
      }));
    s.route("POST", "/echo", async (r) => r.respond(200, await r.body.bytes()));
    s.route("GET", "/big", async (r) => {
      for (let i = 0; i < 512; i++) await r.push(`${String(i).padStart(1023, ".")}\n`);
    });
    if (tls !== null) s.listenTls("127.0.0.1:0", tls);
    else s.listen("127.0.0.1:0");
    return s;
  }).join();
  try {
    await fn(server.url);
  } finally {
    await spawn(() => server.close()).join();
  }
}

async function run(binary: string, args: string[]): Promise<{ out: string; err: string }> {
  const result = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" })
    .output();
  const out = new TextDecoder().decode(result.stdout);
  const err = new TextDecoder().decode(result.stderr);
  assert.ok(result.success, `${binary} ${args.join(" ")} failed: ${err}`);
  return { out, err };
}

let certificate: { cert: string; key: string; certPath: string } | null = null;
async function cert(): Promise<{ cert: string; key: string; certPath: string }> {
  if (certificate !== null) return certificate;
  const dir = await Deno.makeTempDir();
  const { cert, certPath, keyPath } = await certificateFiles(dir);
  return certificate = { cert, key: await Deno.readTextFile(keyPath), certPath };
}

peerTest("curl --http2 over TLS negotiates h2 by ALPN", "/usr/bin/curl", async () => {
  const c = await cert();
  await withServer(c, async (url) => {
    const { out } = await run("curl", [
      "-sS",
      "--http2",
      "--cacert",
      c.certPath,
      "-w",
      "\n%{http_version}",
      `${url}/`,
    ]);
    assert.match(out, /<p id="v">HTTP\/2<\/p>\n2$/);
    // HTTP/1.1 still there for clients that ask for it.
    const old = await run("curl", ["-sS", "--http1.1", "--cacert", c.certPath, `${url}/`]);
    assert.match(old.out, /HTTP\/1\.1/);
  });
});

peerTest("curl --http2-prior-knowledge: pages, uploads, big replies", "/usr/bin/curl", async () => {
  await withServer(null, async (url) => {
    const page = await run("curl", [
      "-sS",
      "--http2-prior-knowledge",
      "-w",
      "\n%{http_version}",
      `${url}/`,
    ]);
    assert.match(page.out, /HTTP\/2<\/p>\n2$/);
    const file = await Deno.makeTempFile();
    const data = new Uint8Array(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    await Deno.writeFile(file, data);
    const echo = await new Deno.Command("curl", {
      args: ["-sS", "--http2-prior-knowledge", "--data-binary", `@${file}`, `${url}/echo`],
      stdout: "piped",
    }).output();
    assert.ok(echo.success);
    assert.deepEqual(echo.stdout, data);
    const big = await run("curl", ["-sS", "--http2-prior-knowledge", `${url}/big`]);
    assert.equal(big.out.length, 512 * 1024);
  });
});

peerTest(
  "nghttp: many concurrent streams, TLS and prior knowledge",
  "/usr/bin/nghttp",
  async () => {
    const c = await cert();
    await withServer(null, async (url) => {
      const paths = Array.from({ length: 20 }, (_, i) => `${url}/big?i=${i}`);
      const { out } = await run("nghttp", ["-ns", ...paths]);
      // One line per stream: status 200 and the 512 KiB body, all on one connection.
      const rows = out.split("\n").filter((l) => / 200 +512K \/big\?i=\d+$/.test(l.trim()));
      assert.equal(rows.length, 20, out);
    });
    await withServer(c, async (url) => {
      // nghttp does not check certificates (it takes no CA file).
      const { out } = await run("nghttp", ["-nv", `${url}/`, `${url}/app.js`]);
      assert.match(out, /recv HEADERS frame/);
      assert.match(out, /:status: 200/);
      assert.match(out, /negotiated protocol: h2/);
    });
  },
);

peerTest("Chromium loads a page over h2 through TLS", "/usr/bin/chromium", async () => {
  const c = await cert();
  await withServer(c, async (url) => {
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu"],
    });
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const response = await page.goto(`${url}/`);
      assert.ok(response !== null);
      assert.equal(response.status(), 200);
      await page.waitForFunction(() => "loaded" in globalThis, undefined, { timeout: 10_000 });
      const seen = await page.evaluate(() => {
        const nav = (globalThis as unknown as {
          performance: { getEntriesByType(t: string): { nextHopProtocol: string }[] };
        }).performance;
        return {
          page: nav.getEntriesByType("navigation")[0].nextHopProtocol,
          script: nav.getEntriesByType("resource")[0]?.nextHopProtocol,
          loaded: (globalThis as unknown as { loaded: string }).loaded,
          text: (globalThis as unknown as {
            document: { getElementById(id: string): { textContent: string } };
          }).document.getElementById("v").textContent,
        };
      });
      assert.equal(seen.page, "h2");
      assert.equal(seen.script, "h2");
      assert.equal(seen.loaded, "HTTP/2");
      assert.equal(seen.text, "HTTP/2");
    } finally {
      await browser.close();
    }
  });
});
