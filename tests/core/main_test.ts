import assert from "node:assert/strict";

const mod = new URL("../../mod.ts", import.meta.url).href;

async function runProgram(body: string, signal?: Deno.Signal) {
  const code = `import * as s from ${JSON.stringify(mod)};\n${body}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // A program that never ends fails its test instead of holding the suite.
    signal: AbortSignal.timeout(60_000),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  if (signal) {
    // Wait for the program to say it is ready, then signal it.
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const first = new TextDecoder().decode(value);
    child.kill(signal);
    let rest = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rest += new TextDecoder().decode(r.value);
    }
    const status = await child.status;
    const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
    return { code: status.code, stdout: first + rest, stderr };
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("main returns fn's result with exit code 0", async () => {
  const r = await runProgram(`
    const v = await s.main(async () => { await s.sleep(0.001); return 7; });
    console.log("result", v);`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /result 7/);
});

Deno.test("main reports a thrown error and exits 1", async () => {
  const r = await runProgram(`await s.main(() => { throw new Error("kaput"); });`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /main thread died.*kaput/s);
});

Deno.test("SIGINT shuts every thread down cleanly and exits 130", async () => {
  const r = await runProgram(
    `
    await s.main(async () => {
      const worker = s.spawn({ name: "worker" }, async () => {
        try { await s.sleep(60); } finally { console.log("worker cleaned up"); }
      });
      console.log("ready");
      await worker.join();
    });`,
    "SIGINT",
  );
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stdout, /worker cleaned up/);
});

Deno.test("when fn returns, leftover threads are shut down and the program ends", async () => {
  const r = await runProgram(`
    await s.main(async () => {
      s.spawn(async () => { try { await s.sleep(60); } finally { console.log("leftover stopped"); } });
      await s.sleep(0.001);
    });`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /leftover stopped/);
});

Deno.test("SIGTERM with the main thread on a foreign promise: exit after the grace, naming who is stuck", async () => {
  const r = await runProgram(
    `
    await s.main(async () => {
      s.spawn({ name: "stubborn" }, async () => {
        for (;;) { try { await s.sleep(60); } catch { /* ignores Shutdown */ } }
      });
      console.log("ready");
      await new Promise(() => setInterval(() => {}, 1000)); // no interruption point
    }, { graceSeconds: 0.5 });`,
    "SIGTERM",
  );
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /did not finish within the 0\.5 s grace on SIGTERM: .*"stubborn"/);
});

Deno.test("threads that ignore Shutdown after main returns: exit after the grace, named", async () => {
  const r = await runProgram(`
    await s.main(async () => {
      s.spawn({ name: "stubborn" }, async () => {
        for (;;) { try { await s.sleep(60); } catch { /* ignores Shutdown */ } }
      });
      await s.sleep(0.001);
    }, { graceSeconds: 0.3 });
    console.log("not reached");`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /did not finish within the 0\.3 s grace after main ended: .*"stubborn"/);
  assert.doesNotMatch(r.stdout, /not reached/);
});

Deno.test("a leftover thread that fails while it stops is reported, not swallowed", async () => {
  const r = await runProgram(`
    await s.main(async () => {
      s.spawn({ name: "leftover" }, async () => {
        try { await s.sleep(60); } finally { throw new Error("cleanup failed"); }
      });
      await s.sleep(0.001);
    });`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /"leftover".*died.*cleanup failed/s);
});

Deno.test("the main thread runs in a group named main", async () => {
  const r = await runProgram(`
    await s.main(() => console.log("group", s.current().group.name));`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /group main/);
});
