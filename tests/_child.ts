/**
 * Runs a test's child script in a Deno process of its own (a fresh module graph, its own
 * permissions or descriptor limit), as the tests of first loads and EMFILE do.
 */
import assert from "node:assert/strict";
import { denoChildEnv } from "./net/_backends.ts";

/** How to run a child script. */
export interface DenoChildOptions {
  /** `deno run` flags before the script; default `-A --unstable-net`. */
  flags?: string[];
  /** Arguments after the script. */
  args?: string[];
  /** Run under `ulimit -n` with this many descriptors. */
  descriptorLimit?: number;
  /** Seconds before the child is killed (default 60). */
  timeout?: number;
}

/** What the child printed; `result` is the JSON of its last line of stdout. */
export interface DenoChildOutput<T> {
  result: T;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <flags> <script> <args>` and asserts it exited with 0 (the failure shows
 * its output), then parses the last line of its stdout as JSON.
 */
export async function runDenoChild<T = Record<string, unknown>>(
  script: string,
  options: DenoChildOptions = {},
): Promise<DenoChildOutput<T>> {
  const run = [
    Deno.execPath(),
    "run",
    ...(options.flags ?? ["-A", "--unstable-net"]),
    script,
    ...(options.args ?? []),
  ];
  // Under a limit, a shell sets it and execs Deno; the command goes as positional
  // parameters, never spliced into the shell's text.
  const [command, args] = options.descriptorLimit === undefined
    ? [run[0], run.slice(1)]
    : ["sh", ["-c", `ulimit -n ${options.descriptorLimit} && exec "$@"`, "sh", ...run]];
  const output = await new Deno.Command(command, {
    env: denoChildEnv(),
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((options.timeout ?? 60) * 1000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child failed:\n${stdout}\n${stderr}`);
  return { result: JSON.parse(stdout.trim().split("\n").at(-1)!), stdout, stderr };
}
