/** Running out of file descriptors is a typed error the process recovers from. */
import assert from "node:assert/strict";
import { socketTest } from "./_backends.ts";

const child = new URL("./emfile_child.ts", import.meta.url).pathname;

socketTest("EMFILE is TooManyOpenFilesError, and freeing descriptors recovers", async (backend) => {
  if (Deno.build.os === "windows") return;
  const deno = Deno.execPath();
  const output = await new Deno.Command("sh", {
    args: ["-c", `ulimit -n 64 && exec "${deno}" run -A --unstable-net "${child}" ${backend}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(output.stdout),
    err = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child failed:\n${out}\n${err}`);
  assert.match(out, /ok after EMFILE \(TooManyOpenFilesError/);
});
