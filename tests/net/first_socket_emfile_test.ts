/**
 * The FFI shim is opened by the first socket. If the process is out of descriptors then,
 * dlopen fails: that is a passing state, not a reason to give the backend up. The socket
 * call fails with TooManyOpenFilesError, and once descriptors are free the FFI backend is
 * used (not BackendUnavailableError forever when "ffi" is demanded, nor the portable
 * backend for good, with a wrong fix, under "auto").
 */
import assert from "node:assert/strict";
import { ffiUnavailableReason } from "../../mod.ts";
import { runDenoChild } from "../_child.ts";

const child = new URL("./first_socket_emfile_child.ts", import.meta.url).pathname;

/** What the child prints: descriptors it held, the first and the next socket's outcome. */
interface ChildResult {
  exhausted: number;
  first: string;
  then: string;
  backend: string;
}

for (const choice of ["ffi", "auto"]) {
  Deno.test({
    name: `backend "${choice}": the first socket at EMFILE fails typed, the next one uses FFI`,
    ignore: Deno.build.os === "windows" ||
      (ffiUnavailableReason() !== null && Deno.env.get("CI") !== "true"),
    async fn() {
      const { result, stdout: out, stderr: err } = await runDenoChild<ChildResult>(child, {
        args: [choice],
        descriptorLimit: 128,
      });
      assert.ok(result.exhausted > 0, out);
      assert.match(result.first, /^TooManyOpenFilesError/);
      assert.match(result.then, /^ConnectionRefusedError/);
      assert.equal(result.backend, "ffi");
      assert.doesNotMatch(err, /portable Deno backend/);
    },
  });
}
