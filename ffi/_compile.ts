/**
 * Compiling the poller shim with the system's C compiler ($CC, else cc). The library is
 * written under a temporary name and renamed into place, so a concurrent build or a
 * reader never sees half a library.
 *
 * @module
 */

/** What a compile did. */
export type CompileOutcome =
  | { ok: true; path: string }
  | { ok: false; noCompiler: boolean; message: string };

/** The compiler command: `$CC` when granted and set, else `cc`. */
export function compilerCommand(): string {
  const granted = Deno.permissions.querySync({ name: "env", variable: "CC" }).state === "granted";
  return (granted ? Deno.env.get("CC") : undefined) || "cc";
}

/**
 * Compiles the C file at `source` into the shared library `output` (its directory must
 * exist). Compiler diagnostics go to this process's stderr.
 */
export async function compileShim(source: string, output: string): Promise<CompileOutcome> {
  const compiler = compilerCommand();
  const temporary = `${output}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const shared = Deno.build.os === "darwin" ? ["-dynamiclib"] : ["-shared", "-fPIC"];
  const args = [
    ...shared,
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fvisibility=hidden",
    "-o",
    temporary,
    source,
  ];
  let status: Deno.CommandStatus;
  try {
    status = await new Deno.Command(compiler, { args, stdout: "inherit", stderr: "inherit" })
      .spawn().status;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, noCompiler: true, message: `no C compiler (${compiler} not found)` };
    }
    throw e;
  }
  if (!status.success) {
    await Deno.remove(temporary).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return { ok: false, noCompiler: false, message: `${compiler} failed on ${source}` };
  }
  await Deno.rename(temporary, output);
  return { ok: true, path: output };
}
