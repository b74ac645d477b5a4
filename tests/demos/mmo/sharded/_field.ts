/**
 * A sharded field for the tests: 2x2 shard processes under a Supervisor, on a small world
 * with fast steps (crossings every few tenths of a second), against the test broker.
 */
import assert from "node:assert/strict";
import {
  type BackendName,
  type ClusterEvent,
  sleep,
  Supervisor,
  TimeoutError,
  withTimeout,
} from "../../../../mod.ts";
import { denoChildEnv } from "../../../net/_backends.ts";
import type { ShardStatistics } from "../../../../demos/mmo/sharded/shard.ts";

const SHARD = new URL("../../../../demos/mmo/sharded/shard.ts", import.meta.url).pathname;

export interface Field {
  supervisor: Supervisor;
  events: ClusterEvent[];
  namespace: string;
  wanderers: number;
  /** Every shard's answer to `what` ("ids", "hold", "release", "statistics"). */
  ask(what: string): Promise<ShardStatistics[]>;
}

export function startField(
  port: number,
  backend: BackendName,
  options: {
    wanderers?: number;
    shards?: string;
    commitSeconds?: number;
    snapshotSeconds?: number;
    stepSeconds?: number;
    readyTimeout?: number;
    /** Durable queues and persistent messages (the shards' `--durable`). */
    durable?: boolean;
  } = {},
): Field {
  const namespace = `test.${crypto.randomUUID().slice(0, 8)}`;
  const wanderers = options.wanderers ?? 200;
  const shards = options.shards ?? "2x2";
  const [w, h] = shards.split("x").map(Number);
  const events: ClusterEvent[] = [];
  const supervisor = new Supervisor({
    workers: w * h,
    command: [
      "run",
      "-A",
      "--unstable-net",
      SHARD,
      `--shards=${shards}`,
      `--amqp=amqp://127.0.0.1:${port}`,
      `--namespace=${namespace}`,
      "--size=2000",
      "--boxes=10",
      `--wanderers=${wanderers}`,
      `--step-seconds=${options.stepSeconds ?? 0.02}`,
      "--steps=15",
      `--commit-seconds=${options.commitSeconds ?? 0.1}`,
      `--snapshot-seconds=${options.snapshotSeconds ?? 1}`,
      ...(options.durable ? ["--durable"] : []),
    ],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv() },
    graceSeconds: 5,
    readyTimeout: options.readyTimeout ?? 30,
    restartOrder: "stop-first", // as the launcher's: a region has one owner
    firstBackoff: 0.05,
    askTimeout: 5,
    onEvent: (e) => events.push(e),
  });
  return {
    supervisor,
    events,
    namespace,
    wanderers,
    async ask(what) {
      const reports = what === "statistics"
        ? await supervisor.statistics()
        : await supervisor.ask(what);
      return reports.map((r) => {
        if (r.error !== undefined) throw new Error(`worker ${r.id}: ${r.error}`);
        return r.value as ShardStatistics;
      });
    },
  };
}

/**
 * Holds every shard's handoffs, waits until none is on its way (each shard has committed
 * since the hold, and every region adopted all that was sent to it), and checks that each
 * wanderer is in exactly one shard. Releases them again. Returns the shards' statistics.
 */
export async function checkInvariant(field: Field, seconds = 15): Promise<ShardStatistics[]> {
  await field.ask("hold");
  let shards: ShardStatistics[] = [];
  let settled = false;
  try {
    await withTimeout(seconds, async () => {
      for (;;) {
        shards = await field.ask("ids");
        settled = shards.every((s) => s.held) &&
          shards.every((to) =>
            shards.every((from) => from.sentTo[to.index] === to.adoptedFrom[from.index])
          );
        if (settled) return;
        await sleep(0.05);
      }
    });
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
  }
  const owner = new Map<number, string>();
  for (const s of shards) {
    assert.equal(s.ids!.length, s.wanderers);
    for (const id of s.ids!) {
      const other = owner.get(id);
      assert.equal(other, undefined, `wanderer ${id} is in ${other} and in ${s.region}`);
      owner.set(id, s.region);
    }
  }
  const missing = [];
  for (let id = 1; id <= field.wanderers; id++) if (!owner.has(id)) missing.push(id);
  assert.deepEqual(missing, [], "wanderers in no shard");
  assert.equal(owner.size, field.wanderers);
  for (const s of shards) assert.equal(s.duplicates, 0, `${s.region} dropped duplicates`);
  assert.ok(
    settled,
    `handoffs did not settle in ${seconds} s: ${
      JSON.stringify(shards.map((s) => [s.region, s.held, s.sentTo, s.adoptedFrom]))
    }`,
  );
  await field.ask("release");
  return shards;
}

/** Handoffs committed so far, all shards. */
export function crossings(shards: ShardStatistics[]): number {
  return shards.reduce((n, s) => n + s.sentTo.reduce((a, b) => a + b, 0), 0);
}
