/** The web terminal end to end in headless Chromium: login, a line typed, its result. */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { spawn } from "../../../mod.ts";
import { selfSignedCertificate, startTerm, type Term } from "../../../demos/term/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const have = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};
const available = have(CHROMIUM) && have("/usr/bin/openssl");
const ci = Deno.env.get("CI") === "true";

Deno.test({
  name: `the web terminal logs in over a TLS WebSocket and evaluates a line${
    available || ci ? "" : " (skipped: needs /usr/bin/chromium and openssl)"
  }`,
  ignore: !available && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(available, "chromium or openssl is missing (CI must install them)");
    const tls = await spawn(() => selfSignedCertificate()).join();
    const term: Term = await spawn(() =>
      startTerm({
        listen: "127.0.0.1:0",
        tls,
        user: "ops",
        password: "s3cret",
        globals: { answer: 42 },
      })
    ).join();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ ignoreHTTPSErrors: true });
      assert.match(term.url, /^https:/);
      await page.goto(term.url);
      // A wrong password is refused.
      await page.fill("#user", "ops");
      await page.fill("#password", "guess");
      await page.click("button");
      await page.waitForFunction(() =>
        (globalThis as unknown as {
          document: { getElementById(id: string): { textContent: string } };
        })
          .document.getElementById("error").textContent.includes("login incorrect")
      );
      // The right one opens the terminal.
      await page.fill("#password", "s3cret");
      await page.click("button");
      await page.waitForFunction(() =>
        (globalThis as unknown as { termReady?: boolean }).termReady === true
      );
      await page.waitForFunction(() =>
        // the REPL's prompt shows beside the input
        (globalThis as unknown as {
          document: { getElementById(id: string): { textContent: string } };
        })
          .document.getElementById("prompt").textContent === ">>> "
      );
      await page.type("#in", "answer * 2");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() =>
        (globalThis as unknown as {
          document: { getElementById(id: string): { textContent: string } };
        })
          .document.getElementById("out").textContent.includes("84")
      );
      const text = await page.textContent("#out");
      assert.match(text ?? "", /shrapnel web terminal/);
      assert.match(text ?? "", /web terminal[^]*>>> answer \* 2\n84/);
      // Tab completes a session name, an object's property, and lists several candidates.
      type Doc = {
        document: { getElementById(id: string): { textContent: string; value: string } };
      };
      const inputIs = (value: string) =>
        page.waitForFunction(
          (v) => (globalThis as unknown as Doc).document.getElementById("in").value === v,
          value,
          { timeout: 5000 },
        );
      await page.fill("#in", "ans");
      await page.keyboard.press("Tab");
      await inputIs("answer");
      await page.keyboard.type(" + 1");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() =>
        (globalThis as unknown as Doc).document.getElementById("out").textContent.includes(
          ">>> answer + 1\n43",
        )
      );
      await page.fill("#in", "Deno.vers");
      await page.keyboard.press("Tab");
      await inputIs("Deno.version");
      await page.fill("#in", "spa");
      await page.keyboard.press("Tab");
      await inputIs("spawn");
      await page.fill("#in", "thread");
      await page.keyboard.press("Tab");
      await page.waitForFunction(() =>
        (globalThis as unknown as Doc).document.getElementById("out").textContent.includes(
          "threadById  threadDump  threads",
        )
      );
      assert.equal(await page.inputValue("#in"), "thread");
    } finally {
      await browser.close();
      await spawn(() => term.stop()).join();
    }
  },
});
