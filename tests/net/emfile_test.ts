/** Running out of file descriptors is a typed error the process recovers from. */
import assert from "node:assert/strict";
import { denoChildEnv, socketTest } from "./_backends.ts";

const child = new URL("./emfile_child.ts", import.meta.url).pathname;

async function runChild(backend: string, limit: number): Promise<string> {
  const deno = Deno.execPath();
  const output = await new Deno.Command("sh", {
    env: denoChildEnv(),
    args: [
      "-c",
      `ulimit -n ${limit} && exec "${deno}" run -A --unstable-net "${child}" ${backend}`,
    ],
    stdout: "piped",
    stderr: "piped",
    // A child that hangs is a failure, not a stuck suite.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const out = new TextDecoder().decode(output.stdout),
    err = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child failed under ulimit -n ${limit}:\n${out}\n${err}`);
  assert.match(out, /ok after EMFILE \(TooManyOpenFilesError/);
  return out;
}

socketTest("EMFILE is TooManyOpenFilesError, and freeing descriptors recovers", async (backend) => {
  if (Deno.build.os === "windows") return;
  // Each connection costs two descriptors, so of two neighbouring limits one runs out at
  // connect and the other at accept, whatever the runtime holds open itself.
  const outs = [await runChild(backend, 64), await runChild(backend, 65)];
  const failedAt = outs.map((out) =>
    /TooManyOpenFilesError: accept/.test(out) ? "accept" : "connect"
  );
  assert.deepEqual(failedAt.toSorted(), ["accept", "connect"], outs.join("\n"));
  // A connection whose accept failed stayed queued and was accepted once descriptors were free.
  outs.forEach((out, i) => {
    const queued = Number(/, (\d+) queued accepted/.exec(out)?.[1]);
    assert.equal(queued, failedAt[i] === "accept" ? 2 : 1, out);
  });
});
