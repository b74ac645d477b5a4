/**
 * The sharded field's launcher (`deno task demo:mmo --shards=WxH --amqp=amqp://...`): a
 * cluster {@linkcode Supervisor} of W*H shard processes (worker i + 1 owns region i, and
 * is restarted from its last commit if it dies) and, in this process, a gateway serving
 * browsers. A rolling restart (`supervisor.restart()`, SIGHUP to the launcher) replaces
 * the shards one at a time, stop-first: a shard owns its region exclusively, so its old
 * process makes its last commit and exits before the new one takes the region. More gateways, on other machines, need only the broker's address and the
 * namespace (`gateway.ts`).
 *
 * The field lives in RabbitMQ under a namespace: by default a fresh one per launch
 * (`mmo.<8 hex>`), whose queues are deleted when the launcher stops. Given one
 * (`--namespace=name`), the field outlives the launcher: its queues stay, and the next
 * launch with that name goes on from each region's last commit.
 *
 * @module
 */

import type { ClusterEvent } from "../../../net/cluster.ts";
import { Supervisor } from "../../../net/cluster.ts";
import { AmqpConnection, type AmqpOptions } from "../../../proto/amqp/client.ts";
import { parseAmqpUrl } from "../../../proto/amqp/url.ts";
import { type Gateway, startGateway } from "./gateway.ts";
import { RegionGrid } from "./grid.ts";
import { AMQP_URL_ENV, deleteShardQueues } from "./shard.ts";

/** Options of {@linkcode startShardedField}. */
export interface ShardedFieldOptions {
  /** The grid, `WxH`. */
  shards: string;
  /** The broker's URL ("amqp://127.0.0.1:5672"). */
  amqp?: string;
  /** The field's name on the broker (default: a fresh one, deleted at `stop`). */
  namespace?: string;
  /** The gateway's listening address ("127.0.0.1:8080"); null: no gateway here. */
  listen?: string | null;
  /** Side of the world (20480). */
  size?: number;
  /** Wanderers in all (1000). */
  wanderers?: number;
  /** Boxes (5000). */
  boxes?: number;
  /** Seed of the layout (1). */
  seed?: number;
  /** Frames per second, shards' and gateway's (20). */
  fps?: number;
  /** Seconds between a shard's commits (0.2). */
  commitSeconds?: number;
  /** Seconds between a shard's snapshots (2). */
  snapshotSeconds?: number;
  /** Seconds a shard has to start (30). */
  readyTimeout?: number;
  /** More environment for the shard processes (e.g. `SHRAPNEL_BACKEND`), besides the launcher's. */
  env?: Record<string, string>;
  /** What happens to the shard processes (default: crashes on stderr). */
  onEvent?: (event: ClusterEvent) => void;
}

/** A running sharded field. */
export interface ShardedField {
  /** The shards' supervisor. */
  supervisor: Supervisor;
  /** The grid. */
  grid: RegionGrid;
  /** The field's name on the broker. */
  namespace: string;
  /** The gateway in this process (null if `listen` was null). */
  gateway: Gateway | null;
  /**
   * Stops the gateway and the shards (each makes a last commit), and deletes the field's
   * queues unless it was given a namespace. Interruption point.
   */
  stop(): Promise<void>;
}

const SHARD = new URL("./shard.ts", import.meta.url).pathname;

/**
 * Starts the shards, waits until they are ready, and starts the gateway (call from a
 * thread). Interruption point.
 *
 * @example
 * ```ts ignore
 * const field = await startShardedField({ shards: "2x2", amqp: "amqp://127.0.0.1:5672" });
 * console.log(field.gateway!.url);
 * await field.stop();
 * ```
 * @throws {GridSpecError} for a bad `shards`; `TypeError` for a bad `amqp` URL;
 *   {@linkcode TimeoutError} if the shards are not ready within `readyTimeout`
 */
export async function startShardedField(options: ShardedFieldOptions): Promise<ShardedField> {
  const size = options.size ?? 20480;
  const grid = RegionGrid.parse(options.shards, size);
  const url = options.amqp ?? "amqp://127.0.0.1:5672";
  const amqp: AmqpOptions = parseAmqpUrl(url);
  const named = options.namespace !== undefined;
  const namespace = options.namespace ??
    `mmo.${crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0")}`;
  const fps = options.fps ?? 20;
  const supervisor = new Supervisor({
    workers: grid.count,
    command: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-ffi",
      // The control socket's directory (Deno.makeTempDir's): on the portable backend
      // (no FFI shim) connecting to a unix socket needs write permission on its path.
      `--allow-write=${Deno.env.get("TMPDIR") || "/tmp"}`,
      "--unstable-net",
      // A young generation that holds two rounds of 100k sleeps: each scavenge copies every
      // sleeper's promise, so half as many scavenges as with 96 (which V8 rounds to 128)
      // halve the collector's share of a step (docs/benchmarks.md).
      "--v8-flags=--max-semi-space-size=256",
      SHARD,
      `--shards=${grid}`,
      `--namespace=${namespace}`,
      `--size=${size}`,
      `--wanderers=${options.wanderers ?? 1000}`,
      `--boxes=${options.boxes ?? 5000}`,
      `--seed=${options.seed ?? 1}`,
      `--fps=${fps}`,
      `--commit-seconds=${options.commitSeconds ?? 0.2}`,
      `--snapshot-seconds=${options.snapshotSeconds ?? 2}`,
    ],
    // In the environment, not the arguments: a URL may hold the broker's password, and
    // any local user reads a process's arguments (its environment only its owner).
    env: { ...options.env, [AMQP_URL_ENV]: url },
    readyTimeout: options.readyTimeout ?? 30,
    // A region has one owner (a second shard fails with RegionTakenError): the old shard
    // commits, exits and frees the region before its replacement starts.
    restartOrder: "stop-first",
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  await supervisor.start();
  let gateway: Gateway | null = null;
  const stop = async () => {
    try {
      // The shards first: a Ctrl-C reaches them too, and they must not be taken for
      // crashed (and restarted) while the gateway closes.
      await supervisor.stop();
    } finally {
      await gateway?.stop();
      if (!named) {
        const connection = await AmqpConnection.connect(amqp);
        try {
          await deleteShardQueues(await connection.channel(), namespace, grid);
        } finally {
          await connection.close();
        }
      }
    }
  };
  try {
    await supervisor.waitReady(options.readyTimeout ?? 30);
    if (options.listen !== null) {
      gateway = await startGateway({
        amqp,
        namespace,
        listen: options.listen ?? "127.0.0.1:8080",
        fps,
      });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { supervisor, grid, namespace, gateway, stop };
}
