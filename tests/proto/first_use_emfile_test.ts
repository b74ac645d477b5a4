/**
 * A resolver's, an HTTP client's and the SQL pools' code loads lazily, begun when they are made. Deno 2.9
 * panics (the process dies) when it imports a module at EMFILE, so a first lookup or
 * request made while the process is out of descriptors must not be what loads it: it
 * fails with a typed error, and works once descriptors are free.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../net/_backends.ts";
import { runDenoChild } from "../_child.ts";

const child = new URL("./first_use_emfile_child.ts", import.meta.url).pathname;

for (const backend of BACKENDS) {
  for (const which of ["dns", "http", "postgres", "mysql"]) {
    Deno.test(`${backend}: a ${which} client's first call at EMFILE fails without killing the process, the next one works`, async () => {
      const { result, stdout: out } = await runDenoChild<
        { exhausted: number; first: string; then: string }
      >(child, {
        args: [backend, which],
        descriptorLimit: 128,
      });
      assert.ok(result.exhausted > 0, out);
      if (which === "dns") {
        // EMFILE at the query's socket (a server failure), or at the FFI shim's first opening
        assert.match(result.first, /^(ServerFailureError: .*EMFILE|TooManyOpenFilesError)/);
        assert.match(result.then, /^ServerFailureError: .*(port unreachable|no answer)/);
      } else if (which === "postgres" || which === "mysql") {
        // The pool's client code loaded when it was made; its npm driver loads at the first
        // connect, which at EMFILE fails once (Deno's package read) or at the socket; the
        // process lives and nothing failed is remembered: the next query reaches the port.
        assert.match(
          result.first,
          /^(TypeError: \[ERR_INVALID_PACKAGE_CONFIG\]|TooManyOpenFilesError)/,
        );
        assert.match(result.then, /^ConnectionRefusedError/);
      } else {
        assert.match(result.first, /^TooManyOpenFilesError/);
        assert.match(result.then, /^ConnectionRefusedError/);
      }
    });
  }
}
