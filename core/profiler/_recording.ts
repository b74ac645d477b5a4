/**
 * The profiler's recording, behind {@linkcode Profiler} (profiler.ts): the switch hooks'
 * recorder, the inspector session, and the making of a profile from V8's samples. Loaded by
 * the first `Profiler.start`, so that importing the library does not compile it.
 *
 * @module
 */

import type { Session } from "node:inspector";
import { nodeBuiltin } from "../_node_builtin.ts";
import { scheduler, type SwitchHooks } from "../scheduler.ts";
import type { Thread } from "../thread.ts";
import { openShim } from "../../ffi/shim.ts";
import type { CallNode, FunctionProfile, Profile, ThreadProfile } from "./profiler.ts";

interface ThreadAccount {
  thread: Thread;
  runMs: number;
  waitMs: number;
  switches: number;
  blockedAt: number;
  reason: string;
  waits: Record<string, number>;
}

function reasonName(reason: unknown): string {
  if (reason === null || reason === undefined) return "yield";
  if (typeof reason === "string") {
    const space = reason.indexOf(" ");
    return space < 0 ? reason : reason.slice(0, space);
  }
  return (reason as { constructor?: { name?: string } }).constructor?.name ?? "unknown";
}

/**
 * Charges time to threads at each switch; logs who ran when, for the samples. Kept lean:
 * it runs at every switch (one clock read per switch, none on a wake).
 */
class Recorder implements SwitchHooks {
  /** The clock: the shim's clock_gettime when it can be opened (51 ns a read against 121). */
  readonly now: () => number;
  last: number;
  accounts: ThreadAccount[] = [];
  times = new Float64Array(1 << 16);
  ids = new Int32Array(1 << 16);
  count = 0;
  #lastReason: unknown = undefined;
  #lastReasonName = "yield";

  constructor(now: () => number) {
    this.now = now;
    this.last = now();
  }

  #account(thread: Thread): ThreadAccount {
    let a = thread._profile() as ThreadAccount | undefined;
    if (a === undefined || a.thread !== thread) {
      a = { thread, runMs: 0, waitMs: 0, switches: 0, blockedAt: 0, reason: "", waits: {} };
      thread._setProfile(a);
      this.accounts.push(a);
    }
    return a;
  }

  #log(time: number, id: number): void {
    if (this.count === this.times.length) {
      const times = new Float64Array(this.count * 2), ids = new Int32Array(this.count * 2);
      times.set(this.times);
      ids.set(this.ids);
      this.times = times;
      this.ids = ids;
    }
    this.times[this.count] = time;
    this.ids[this.count++] = id;
  }

  blocked(thread: object, reason: unknown): void {
    const now = this.now();
    const a = this.#account(thread as Thread);
    if (a.blockedAt !== 0) {
      // It waited from its last block until this run began (the last switch, as runs
      // follow one another): no clock read on the wake itself.
      const waited = Math.max(this.last - a.blockedAt, 0);
      a.waitMs += waited;
      a.waits[a.reason] = (a.waits[a.reason] ?? 0) + waited;
    }
    a.runMs += now - this.last;
    a.switches++;
    a.blockedAt = now;
    // What it waits on, as a name; the last object seen is remembered (one Fifo or
    // socket is usually waited on again and again).
    if (reason !== this.#lastReason) {
      this.#lastReason = reason;
      this.#lastReasonName = reasonName(reason);
    }
    a.reason = this.#lastReasonName;
    this.last = now;
    this.#log(now, (thread as Thread).id);
  }

  ended(thread: object): void {
    const now = this.now();
    this.#account(thread as Thread).runMs += now - this.last;
    this.last = now;
    this.#log(now, (thread as Thread).id);
  }

  tick(): void {
    const now = this.now();
    this.last = now;
    this.#log(now, -1); // the time before a loop turn belongs to no thread
  }

  /** The id of the thread that ran at `time` (-1: none). */
  threadAt(time: number): number {
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] < time) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.count ? this.ids[lo] : -1;
  }

  /** Forgets the accounts kept on the threads. */
  detach(): void {
    for (const a of this.accounts) if (a.thread._profile() === a) a.thread._setProfile(undefined);
  }
}

type Post = <T>(method: string, params?: Record<string, unknown>) => Promise<T>;

interface V8Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface V8Profile {
  nodes: V8Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}

function keyOf(frame: V8Node["callFrame"]): string {
  const url = frame.url.replace(/^file:\/\//, "");
  return `${frame.functionName || "(anonymous)"} ${url}${url ? `:${frame.lineNumber + 1}` : ""}`;
}

/** A profiling under way: the inspector session and the switch hooks' recorder. */
export class Recording {
  readonly #session: Session;
  readonly #post: Post;
  readonly #recorder: Recorder;
  readonly #startedAt: number;
  readonly #intervalUs: number;
  readonly #callCounts: boolean;

  private constructor(
    session: Session,
    post: Post,
    recorder: Recorder,
    startedAt: number,
    intervalUs: number,
    callCounts: boolean,
  ) {
    this.#session = session;
    this.#post = post;
    this.#recorder = recorder;
    this.#startedAt = startedAt;
    this.#intervalUs = intervalUs;
    this.#callCounts = callCounts;
  }

  /** Starts the sampling profiler, call counting (if asked) and the switch hooks. */
  static async start(intervalUs: number, callCounts: boolean): Promise<Recording> {
    const session = new (nodeBuiltin<typeof import("node:inspector")>("node:inspector").Session)();
    session.connect();
    const post: Post = (method, params) =>
      new Promise((resolve, reject) =>
        session.post(
          method,
          params ?? {},
          (e: unknown, r: unknown) => e ? reject(e) : resolve(r as never),
        )
      );
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: intervalUs });
    if (callCounts) {
      await post("Profiler.startPreciseCoverage", { callCount: true, detailed: false });
    }
    const shim = openShim();
    const now = "reason" in shim ? () => performance.now() : shim.sh_now_ms;
    const recorder = new Recorder(now);
    const before = now();
    await post("Profiler.start");
    const startedAt = (before + now()) / 2;
    recorder.last = now();
    scheduler.switchHooks = recorder;
    return new Recording(session, post, recorder, startedAt, intervalUs, callCounts);
  }

  /** Stops everything {@linkcode Recording.start} started and makes the profile. */
  async stop(): Promise<Profile> {
    const post = this.#post, recorder = this.#recorder;
    scheduler.switchHooks = null;
    const stoppedAt = recorder.now();
    const { profile } = await post<{ profile: V8Profile }>("Profiler.stop");
    let coverage: Coverage | null = null;
    if (this.#callCounts) {
      coverage = await post<Coverage>("Profiler.takePreciseCoverage");
      await post("Profiler.stopPreciseCoverage");
    }
    await post("Profiler.disable");
    this.#session.disconnect();
    return build(profile, coverage, recorder, this.#startedAt, stoppedAt, this.#intervalUs);
  }
}

function build(
  v8: V8Profile,
  coverage: Coverage | null,
  recorder: Recorder,
  startedAt: number,
  stoppedAt: number,
  intervalUs: number,
): Profile {
  const byId = new Map(v8.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of v8.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const nodeMs = new Map<number, number>();
  const perThread = new Map<number, Map<string, number>>();
  // Sample i covers the time until sample i+1.
  let time = v8.startTime;
  const times: number[] = [];
  for (const d of v8.timeDeltas) times.push(time += d);
  for (let i = 0; i < v8.samples.length; i++) {
    const ms = ((i + 1 < times.length ? times[i + 1] : v8.endTime) - times[i]) / 1000;
    if (ms <= 0) continue;
    const node = byId.get(v8.samples[i])!;
    const key = keyOf(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      nodeMs.set(id, (nodeMs.get(id) ?? 0) + ms);
      const k = keyOf(byId.get(id)!.callFrame);
      if (seen.has(k)) continue; // recursion counts once
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
    const at = startedAt + (times[i] - v8.startTime) / 1000;
    const thread = recorder.threadAt(at);
    let map = perThread.get(thread);
    if (map === undefined) perThread.set(thread, map = new Map());
    map.set(key, (map.get(key) ?? 0) + ms);
  }
  const calls = new Map<string, number>();
  for (const script of coverage?.result ?? []) {
    const url = script.url.replace(/^file:\/\//, "");
    for (const f of script.functions) {
      const k = `${f.functionName || "(anonymous)"} ${url}`;
      calls.set(k, (calls.get(k) ?? 0) + (f.ranges[0]?.count ?? 0));
    }
  }
  const frames = new Map<string, V8Node["callFrame"]>();
  for (const n of v8.nodes) frames.set(keyOf(n.callFrame), n.callFrame);
  const functions: FunctionProfile[] = [...total.keys()].map((key) => {
    const f = frames.get(key)!;
    const url = f.url.replace(/^file:\/\//, "");
    const counted = coverage === null
      ? null
      : calls.get(`${f.functionName || "(anonymous)"} ${url}`) ?? null;
    return {
      key,
      name: f.functionName || "(anonymous)",
      url,
      line: f.lineNumber + 1,
      selfMs: self.get(key) ?? 0,
      totalMs: total.get(key) ?? 0,
      calls: counted,
    };
  }).sort((a, b) => b.selfMs - a.selfMs);
  recorder.detach();
  const threads: ThreadProfile[] = recorder.accounts.map((a) => ({
    id: a.thread.id,
    name: a.thread.name,
    runMs: a.runMs,
    waitMs: a.waitMs,
    switches: a.switches,
    waits: a.waits,
    functions: [...(perThread.get(a.thread.id) ?? new Map()).entries()].sort((x, y) => y[1] - x[1])
      .slice(0, 20),
  })).sort((a, b) => b.runMs - a.runMs);
  const outside = perThread.get(-1);
  if (outside !== undefined) {
    threads.push({
      id: 0,
      name: "(outside threads: the event loop, Deno, idle)",
      runMs: [...outside.values()].reduce((x, y) => x + y, 0),
      waitMs: 0,
      switches: 0,
      waits: {},
      functions: [...outside.entries()].sort((x, y) => y[1] - x[1]).slice(0, 20),
    });
  }
  const toTree = (id: number): CallNode => {
    const n = byId.get(id)!;
    const children = (n.children ?? []).map(toTree).filter((c) => c.ms > 0).sort((a, b) =>
      b.ms - a.ms
    );
    return { key: keyOf(n.callFrame), ms: nodeMs.get(id) ?? 0, children };
  };
  return {
    durationMs: stoppedAt - startedAt,
    intervalUs,
    samples: v8.samples.length,
    threads,
    functions,
    tree: toTree(v8.nodes[0].id),
  };
}
