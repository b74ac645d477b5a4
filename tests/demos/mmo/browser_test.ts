/**
 * The field demo end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): the page draws boxes and moving circles, and panning moves the view.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { spawn } from "../../../mod.ts";
import { type Mmo, startMmo } from "../../../demos/mmo/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const available = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const ci = Deno.env.get("CI") === "true";

Deno.test({
  name: `the page draws the field, panning moves the view, the minimap and header show the world${
    available || ci ? "" : ` (skipped: no ${CHROMIUM}; apt-get install chromium)`
  }`,
  ignore: !available && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(available, `${CHROMIUM} is missing (CI must install Debian's chromium)`);
    const mmo: Mmo = await spawn(() =>
      startMmo({ listen: "127.0.0.1:0", size: 4096, boxes: 400, wanderers: 150, stepSeconds: 0.05 })
    ).join();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 940 } });
      await page.goto(mmo.url);
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as {
            mmo: { frames: number; boxes: unknown[]; movers: unknown[] };
          }).mmo;
          return s.frames > 3 && s.boxes.length > 0 && s.movers.length > 0;
        },
        undefined,
        { timeout: 10_000, polling: 50 },
      );
      type State = {
        viewX: number;
        viewY: number;
        frames: number;
        movers: [number, number, number, number][];
      };
      const read = () =>
        page.evaluate(() => {
          const s = (globalThis as unknown as { mmo: State }).mmo;
          return {
            viewX: s.viewX,
            viewY: s.viewY,
            frames: s.frames,
            movers: s.movers.map((m) => [...m]),
          };
        }) as Promise<State>;
      // The canvas really has the boxes' and circles' colours on it, not just a background.
      const colours = await page.evaluate(() => {
        // Runs in the page (DOM types are not in Deno's): read the canvas's pixels.
        type Canvas = {
          getContext(kind: "2d"): {
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          };
        };
        const doc = (globalThis as unknown as { document: { getElementById(id: string): Canvas } })
          .document;
        const data = doc.getElementById("field").getContext("2d").getImageData(0, 0, 1024, 1024)
          .data;
        const seen = new Set<number>();
        for (let i = 0; i < data.length; i += 4 * 97) {
          seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        }
        return seen.size;
      });
      assert.ok(colours >= 4, `only ${colours} colours drawn`);
      // Circles move: the same wanderer is somewhere else a few updates later.
      const before = await read();
      await page.waitForFunction(
        (n) => (globalThis as unknown as { mmo: State }).mmo.frames > n + 5,
        before.frames,
      );
      const after = await read();
      const moved = before.movers.some(([id, x, y]) =>
        after.movers.some(([id2, x2, y2]) => id2 === id && (x2 !== x || y2 !== y))
      );
      assert.ok(moved, "no circle moved between frames");
      // Dragging the canvas pans the view; the server sends the new view.
      const box = (await page.locator("#field").boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2 - 200, box.y + box.height / 2 - 150, {
        steps: 8,
      });
      await page.mouse.up();
      await page.waitForFunction(
        (v) => {
          const s = (globalThis as unknown as { mmo: State }).mmo;
          return s.viewX > v.viewX && s.viewY > v.viewY;
        },
        before,
        { timeout: 5000, polling: 50 },
      );
      // WASD too, once the drag's last update has come back (the view has settled).
      let dragged = await read();
      for (let i = 0; i < 50; i++) {
        await page.waitForTimeout(100);
        const again = await read();
        if (again.viewX === dragged.viewX && again.viewY === dragged.viewY) break;
        dragged = again;
      }
      await page.keyboard.press("a");
      await page.waitForFunction(
        (x) => (globalThis as unknown as { mmo: State }).mmo.viewX < x,
        dragged.viewX,
        { timeout: 5000, polling: 50 },
      );
      assert.equal(mmo.viewers(), 1);
      // The header counts the world (the overview comes once a second), with the plural right.
      await page.waitForFunction(
        () => (globalThis as unknown as { mmo: { worldWanderers: number } }).mmo.worldWanderers > 0,
        undefined,
        { timeout: 5000, polling: 50 },
      );
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as { mmo: { stepsPerSecond: number } }).mmo;
          return s.stepsPerSecond > 0;
        },
        undefined,
        { timeout: 5000, polling: 100 },
      );
      const header = await page.locator("#counts").textContent();
      assert.match(
        header!,
        /^150 wanderers in the world, \d+ in view, \d+ box(es)? in view · \d+ steps\/s · 1 viewer$/,
      );
      assert.equal(
        await page.evaluate(() =>
          (globalThis as unknown as { mmo: { plural(n: number, one: string): string } }).mmo
            .plural(1, "wanderer")
        ),
        "1 wanderer",
      );
      // The minimap shows the boxes, the wanderers' density and the viewport's rectangle.
      const mini = await page.evaluate(() => {
        type Canvas = {
          width: number;
          getContext(kind: "2d"): {
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          };
        };
        const doc = (globalThis as unknown as { document: { getElementById(id: string): Canvas } })
          .document;
        const c = doc.getElementById("minimap");
        const data = c.getContext("2d").getImageData(0, 0, c.width, c.width).data;
        const seen = new Set<number>();
        let red = 0, dark = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
          seen.add((r << 16) | (g << 8) | b);
          if (r === 255 && g === 0 && b === 64) red++;
          if (r < 140 && g < 140 && b < 140) dark++;
        }
        const s = (globalThis as unknown as { mmo: { worldBoxes: unknown[]; density: number[] } })
          .mmo;
        return {
          colours: seen.size,
          red,
          dark,
          boxes: s.worldBoxes.length,
          wanderers: s.density.reduce((a, b) => a + b, 0),
        };
      });
      assert.equal(mini.boxes, 400);
      assert.equal(mini.wanderers, 150);
      assert.ok(mini.colours >= 6, `only ${mini.colours} colours on the minimap`);
      assert.ok(mini.red > 100, `viewport rectangle: ${mini.red} px`);
      assert.ok(mini.dark > 50, `density: ${mini.dark} px`);
      // A click on the minimap centres the view there.
      const map = (await page.locator("#minimap").boundingBox())!;
      await page.mouse.click(map.x + map.width * 0.8, map.y + map.height * 0.25);
      const [wantX, wantY] = [Math.min(0.8 * 4096 - 512, 4096 - 1024), 0.25 * 4096 - 512];
      await page.waitForFunction(
        ([x, y]) => {
          const s = (globalThis as unknown as { mmo: State }).mmo;
          return Math.abs(s.viewX - x) < 40 && Math.abs(s.viewY - y) < 40;
        },
        [wantX, wantY],
        { timeout: 5000, polling: 50 },
      );
      // Chromium offered permessage-deflate and the server took it (for updates of 1 KiB and more).
      const extensions = await page.evaluate(() =>
        (globalThis as unknown as { mmo: { extensions: string } }).mmo.extensions
      );
      assert.match(extensions, /permessage-deflate/);
    } finally {
      await browser.close();
      await spawn(() => mmo.stop()).join();
    }
  },
});
