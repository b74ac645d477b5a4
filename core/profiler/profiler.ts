/**
 * The thread-aware profiler: run and wait time charged to threads at every switch (from
 * the scheduler's hooks), time charged to functions by V8's sampling profiler, call counts
 * from V8's precise coverage, samples attributed to the thread that was running.
 *
 * @module
 */

import { awaitModule } from "../_lazy_import.ts";
import { scheduler } from "../scheduler.ts";
import type { Recording } from "./_recording.ts";

/** The recording code, loaded by the first {@linkcode Profiler.start}. */
let recordingModule: typeof import("./_recording.ts") | undefined;

/** One thread's account. */
export interface ThreadProfile {
  /** Thread id. */
  id: number;
  /** Thread name. */
  name: string;
  /** Milliseconds of running, between its switches. */
  runMs: number;
  /** Milliseconds blocked (until its wake was delivered). */
  waitMs: number;
  /** Times it blocked. */
  switches: number;
  /** Wait milliseconds by what it waited on ("SleepTimer", "Fifo", "FfiSocket"...). */
  waits: Record<string, number>;
  /** Functions sampled while it ran: [function key, self ms], most first. */
  functions: [string, number][];
}

/** One function's account. */
export interface FunctionProfile {
  /** "name url:line". */
  key: string;
  /** Function name ("(anonymous)" if none). */
  name: string;
  /** Script URL. */
  url: string;
  /** Line (1-based). */
  line: number;
  /** Milliseconds in the function itself. */
  selfMs: number;
  /** Milliseconds in it and what it called. */
  totalMs: number;
  /** Calls, when call counting was on (else null). */
  calls: number | null;
}

/** A node of the call tree, for the flame graph. */
export interface CallNode {
  /** Function key. */
  key: string;
  /** Milliseconds in this node and below. */
  ms: number;
  /** Callees. */
  children: CallNode[];
}

/** A finished profile. */
export interface Profile {
  /** Wall-clock milliseconds profiled. */
  durationMs: number;
  /** Sampling interval, microseconds. */
  intervalUs: number;
  /** Number of samples. */
  samples: number;
  /** Threads, by run time. */
  threads: ThreadProfile[];
  /** Functions, by self time. */
  functions: FunctionProfile[];
  /** The call tree (root "(root)"). */
  tree: CallNode;
}

/** Options of {@linkcode Profiler.start}. */
export interface ProfilerOptions {
  /** Microseconds between samples (100). */
  intervalUs?: number;
  /** Count calls with V8's precise coverage (true; it slows optimized code a little). */
  callCounts?: boolean;
}

/**
 * Profiles the process: start, run the work, stop to get a {@linkcode Profile}. One
 * profiler at a time.
 *
 * @example
 * ```ts ignore
 * const p = new Profiler();
 * await p.start();
 * await work();
 * const profile = await p.stop();
 * await Deno.writeTextFile("profile.html", renderHtml(profile));
 * ```
 */
export class Profiler {
  #recording: Recording | null = null;
  #starting = false;

  /** Whether it is profiling. */
  get running(): boolean {
    return this.#recording !== null;
  }

  /**
   * Starts profiling (the sampling profiler, call counting, the switch hooks). The first
   * start in a process loads the recording code (core/profiler/_recording.ts).
   * @throws {Error} if a profiler is already running in this process
   */
  async start(options: ProfilerOptions = {}): Promise<void> {
    if (scheduler.switchHooks !== null || this.#recording !== null || this.#starting) {
      throw new Error("a profiler is already running");
    }
    this.#starting = true;
    try {
      recordingModule ??= await awaitModule(() => import("./_recording.ts"), "the profiler");
      if (scheduler.switchHooks !== null) throw new Error("a profiler is already running");
      this.#recording = await recordingModule.Recording.start(
        options.intervalUs ?? 100,
        options.callCounts ?? true,
      );
    } finally {
      this.#starting = false;
    }
  }

  /** Stops profiling and returns the profile. */
  async stop(): Promise<Profile> {
    const recording = this.#recording;
    if (recording === null) throw new Error("not profiling");
    const profile = await recording.stop();
    this.#recording = null;
    return profile;
  }
}

/**
 * Profiles one call: starts, runs `fn`, stops; returns its result and the profile.
 *
 * @example
 * ```ts ignore
 * const [result, profile] = await profile(() => handleManyRequests());
 * ```
 */
export async function profile<R>(
  fn: () => R | Promise<R>,
  options: ProfilerOptions = {},
): Promise<[R, Profile]> {
  const profiler = new Profiler();
  await profiler.start(options);
  let result: R;
  try {
    result = await fn();
  } catch (e) {
    await profiler.stop();
    throw e;
  }
  return [result, await profiler.stop()];
}
