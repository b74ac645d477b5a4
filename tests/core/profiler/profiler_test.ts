/** The profiler charges threads and functions, and writes reports. */
import assert from "node:assert/strict";
import { Fifo, sleep, spawn } from "../../../mod.ts";
import {
  compareProfiles,
  profile,
  profileJson,
  Profiler,
  renderComparisonHtml,
  renderHtml,
} from "../../../core/profiler/mod.ts";
import { inThread } from "../../_helpers.ts";

/** Busy work in a named function (nothing else called), so that samples find it. */
function burnCpu(rounds: number): number {
  let x = 0;
  for (let i = 0; i < rounds * 200_000; i++) x = (x * 31 + i) % 1_000_003;
  return x;
}

async function workload(): Promise<void> {
  const q = new Fifo<number>();
  const burner = spawn({ name: "burner" }, async () => {
    for (let i = 0; i < 20; i++) {
      burnCpu(5);
      q.push(i);
      await sleep(0);
    }
  });
  const sleeper = spawn({ name: "sleeper" }, async () => {
    await sleep(0.05);
    for (let i = 0; i < 20; i++) await q.pop();
  });
  await burner.join();
  await sleeper.join();
}

Deno.test({
  name: "threads get their run and wait time; functions their time and calls",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const [, p] = await profile(workload);
      const burner = p.threads.find((t) => t.name === "burner")!;
      const sleeper = p.threads.find((t) => t.name === "sleeper")!;
      assert.ok(burner.runMs > 60, `burner ran ${burner.runMs} ms`);
      assert.ok(sleeper.runMs < burner.runMs / 4, `sleeper ran ${sleeper.runMs} ms`);
      assert.ok(sleeper.waitMs > 40, `sleeper waited ${sleeper.waitMs} ms`);
      assert.ok(Object.keys(sleeper.waits).length > 0);
      // The busy loop's time (in burnCpu, or its caller if V8 inlined it) is this file's.
      const here = (key: string) => key.includes("profiler_test.ts");
      const inFile = p.functions.filter((f) => here(f.key)).reduce((t, f) => t + f.selfMs, 0);
      assert.ok(inFile > 60, `this file's functions: ${inFile} ms`);
      assert.equal(p.functions.find((f) => f.name === "burnCpu")?.calls, 20);
      // Those samples are the burner's, not the sleeper's.
      const of = (t: typeof burner) =>
        t.functions.filter(([k]) => here(k)).reduce((x, [, v]) => x + v, 0);
      assert.ok(of(burner) > 10 * Math.max(of(sleeper), 0.1), `${of(burner)} vs ${of(sleeper)}`);
      assert.ok(p.tree.ms > 0 && p.tree.children.length > 0);
    }),
});

Deno.test({
  name: "the HTML report is self-contained, sortable, with a flame graph; JSON round-trips",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const [, p] = await profile(workload, { callCounts: false });
      const html = renderHtml(p, "test <profile>");
      assert.match(html, /<table id="threads" class="sortable">/);
      assert.match(html, /<svg class="flame"/);
      assert.match(html, /burnCpu/);
      assert.match(html, /test &#60;profile&#62;/);
      assert.doesNotMatch(html, /<script src=|<link /); // nothing fetched from elsewhere
      assert.deepEqual(JSON.parse(profileJson(p)).threads.length, p.threads.length);
      assert.ok(p.functions.every((f) => f.calls === null));
    }),
});

Deno.test({
  name: "two profiles compare: the function that got slower shows first",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const [, fast] = await profile(() => burnCpu(15), { callCounts: false });
      const [, slow] = await profile(() => burnCpu(120), { callCounts: false });
      const diff = compareProfiles(fast, slow);
      // The busy loop (burnCpu, or its caller if V8 inlined it) grew the most.
      assert.match(diff.functions[0].key, /profiler_test\.ts/);
      assert.ok(diff.functions[0].delta > 50, `delta ${diff.functions[0].delta}`);
      assert.match(renderComparisonHtml(diff), /profiler_test\.ts/);
    }),
});

Deno.test({
  name: "one profiler at a time",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const a = new Profiler();
    await a.start();
    await assert.rejects(new Profiler().start(), /already running/);
    await a.stop();
    await assert.rejects(a.stop(), /not profiling/);
  },
});
