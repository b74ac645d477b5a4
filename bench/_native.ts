/** Builds the benchmark's C programs (load generator, C ceiling servers) into bench/build/. */

const here = new URL(".", import.meta.url).pathname;

/** Compiles bench/c/NAME.c to bench/build/NAME if stale; returns the binary's path. */
export async function buildNative(name: string): Promise<string> {
  const source = `${here}c/${name}.c`, output = `${here}build/${name}`;
  const mtime = async (p: string) => (await Deno.stat(p).catch(() => null))?.mtime?.getTime() ?? -1;
  if (await mtime(output) >= await mtime(source)) return output;
  await Deno.mkdir(`${here}build`, { recursive: true });
  const status = await new Deno.Command(Deno.env.get("CC") ?? "cc", {
    args: ["-O2", "-Wall", "-Wextra", "-o", output, source],
  }).spawn().status;
  if (!status.success) throw new Error(`building ${source} failed`);
  return output;
}
