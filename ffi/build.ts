/**
 * Builds the poller shim (`deno task build:ffi`, run by the tasks that need it): compiles
 * ffi/shim.c into ffi/build/libshrapnel.{so,dylib} when the source is newer than the
 * library. Without a C compiler it says so and exits 0: sockets then use the portable
 * backend on Deno.listen/Deno.connect.
 *
 * @module
 */
import { libraryPath } from "./library.ts";

const source = new URL("./shim.c", import.meta.url).pathname;
const output = libraryPath();

async function mtime(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return -1;
  }
}

const built = await mtime(output);
if (built >= 0 && built >= await mtime(source) && !Deno.args.includes("--force")) {
  Deno.exit(0);
}
const compiler = Deno.env.get("CC") ?? "cc";
await Deno.mkdir(new URL("./build/", import.meta.url), { recursive: true });
const shared = Deno.build.os === "darwin" ? ["-dynamiclib"] : ["-shared", "-fPIC"];
const args = [
  ...shared,
  "-O2",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-fvisibility=hidden",
  "-o",
  output,
  source,
];
let status: Deno.CommandStatus;
try {
  status = await new Deno.Command(compiler, { args, stdout: "inherit", stderr: "inherit" })
    .spawn().status;
} catch (e) {
  if (e instanceof Deno.errors.NotFound) {
    console.error(
      `shrapnel: no C compiler (${compiler}); sockets will use the portable Deno backend`,
    );
    Deno.exit(0);
  }
  throw e;
}
if (!status.success) {
  console.error(`shrapnel: building ${output} failed`);
  Deno.exit(1);
}
console.error(`shrapnel: built ${output}`);
