/**
 * The FFI shim is opened by the first socket. If the process is out of descriptors then,
 * dlopen fails: that is a passing state, not a reason to give the backend up. The socket
 * call fails with TooManyOpenFilesError, and once descriptors are free the FFI backend is
 * used (not BackendUnavailableError forever when "ffi" is demanded, nor the portable
 * backend for good, with a wrong fix, under "auto").
 */
import assert from "node:assert/strict";
import { ffiUnavailableReason } from "../../mod.ts";
import { denoChildEnv } from "./_backends.ts";

const child = new URL("./first_socket_emfile_child.ts", import.meta.url).pathname;

for (const choice of ["ffi", "auto"]) {
  Deno.test({
    name: `backend "${choice}": the first socket at EMFILE fails typed, the next one uses FFI`,
    ignore: Deno.build.os === "windows" ||
      (ffiUnavailableReason() !== null && Deno.env.get("CI") !== "true"),
    async fn() {
      const deno = Deno.execPath();
      const output = await new Deno.Command("sh", {
        env: denoChildEnv(),
        args: ["-c", `ulimit -n 128 && exec "${deno}" run -A --unstable-net "${child}" ${choice}`],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const out = new TextDecoder().decode(output.stdout);
      const err = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, `child failed:\n${out}\n${err}`);
      const result = JSON.parse(out.trim().split("\n").at(-1)!);
      assert.ok(result.exhausted > 0, out);
      assert.match(result.first, /^TooManyOpenFilesError/);
      assert.match(result.then, /^ConnectionRefusedError/);
      assert.equal(result.backend, "ffi");
      assert.doesNotMatch(err, /portable Deno backend/);
    },
  });
}
