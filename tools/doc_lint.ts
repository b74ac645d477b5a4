/**
 * `deno doc --lint` on every export path of deno.json (`deno task check:doc`, part of
 * `deno task ci`): each must have zero documentation lint errors.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
  exports: Record<string, string>;
};
let failed = 0;
for (const [name, path] of Object.entries(config.exports)) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", path],
    cwd: decodeURIComponent(root.pathname),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) {
    console.error(`doc lint: ${name} (${path}) clean`);
  } else {
    failed++;
    console.error(`doc lint: ${name} (${path}):\n${new TextDecoder().decode(out.stderr)}`);
  }
}
if (failed > 0) {
  console.error(`doc lint: ${failed} export path(s) with errors`);
  Deno.exit(1);
}
