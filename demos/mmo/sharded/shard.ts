/**
 * A shard of the sharded field: one process owning the wanderers of one region of the
 * grid, each a thread (the {@linkcode World} of the one-process demo, as a region world).
 * Boxes are regenerated from the seed (the same in every shard); wanderers cross borders
 * by **handoff through RabbitMQ**, never lost and never duplicated:
 *
 * Every `commitSeconds` (0.2) the shard commits one AMQP transaction holding (1) the
 * handoffs of the wanderers that left its region since the last commit, their state as
 * of this commit, published to the queue of the region each is in now; (2) the acks of
 * the handoffs it received and adopted; (3) a snapshot of its whole region (and its
 * handoff counters) to its snapshot queue (`x-max-length` 1: the newest only). A wanderer
 * that crossed keeps wandering here until that commit, then is released: its receiver
 * continues from exactly there. A killed shard restarts from its last snapshot: what it
 * had adopted since is delivered again (never acked), what it had handed off since was
 * never sent (never committed). See docs/mmo-sharded.md.
 *
 * As a program it is a cluster worker (worker i + 1 owns region i), started by
 * `demos/mmo/sharded/launch.ts`:
 * `deno run -A --unstable-net demos/mmo/sharded/shard.ts --shards=2x2 --amqp=amqp://...`
 * (with the world's options: --wanderers --boxes --size --seed --steps --step-seconds,
 * and --commit-seconds --namespace --fps --durable). It publishes its region's frames for
 * the gateways (`frames.ts`) as it goes.
 *
 * @module
 */

import { Interrupted } from "../../../core/errors.ts";
import { main } from "../../../core/main.ts";
import { now } from "../../../core/clock.ts";
import { Pacer } from "../../../core/pacer.ts";
import { Event } from "../../../core/sync/event.ts";
import { spawn } from "../../../core/thread.ts";
import { ThreadGroup } from "../../../core/thread_group.ts";
import { joinCluster, workerId } from "../../../net/cluster_worker.ts";
import {
  type AmqpChannel,
  AmqpConnection,
  type AmqpOptions,
  type Consumer,
} from "../../../proto/amqp/client.ts";
import { parseAmqpUrl } from "../../../proto/amqp/url.ts";
import { type Wanderer, type WandererState, World, type WorldOptions } from "../world.ts";
import { type FramePublisher, startFramePublisher } from "./frames.ts";
import { type Region, RegionGrid } from "./grid.ts";
import {
  decodeHandoff,
  decodeSnapshot,
  encodeHandoff,
  encodeSnapshot,
  StateCodecError,
} from "./state_codec.ts";

/** Options of a {@linkcode Shard}. */
export interface ShardOptions extends WorldOptions {
  /** The region grid (its world side must be the world's `size`). */
  grid: RegionGrid;
  /** Index of this shard's region in the grid. */
  region: number;
  /** Where the broker is (the client's defaults: 127.0.0.1:5672, guest). */
  amqp?: AmqpOptions;
  /**
   * Prefix of the shards' queue names ("mmo"): shards of one field share it, and two
   * fields on one broker need two. The queues outlive the shards (a killed shard's region
   * waits there for it); `deleteShardQueues` removes them.
   */
  namespace?: string;
  /**
   * Seconds between commits (0.2). A kill rolls the region back to the last commit (at
   * most this much movement), and a wanderer that left goes on in the old region for up
   * to this long (so a gateway's border margin must cover `commitSeconds / stepSeconds +
   * 1` steps of 13 px).
   */
  commitSeconds?: number;
  /** Most handoff messages delivered and not yet committed (256): the broker holds the rest. */
  prefetch?: number;
  /**
   * Durable queues and persistent messages (false): the field then survives a broker
   * restart, at the cost of a disk write per commit per queue.
   */
  durable?: boolean;
}

/** What a shard reports (its `statistics` in the cluster). */
export interface ShardStatistics {
  /** Region id `c.r`. */
  region: string;
  /** Region index. */
  index: number;
  /** Process id. */
  pid: number;
  /** Wanderers held now (those that left and wait for the commit included). */
  wanderers: number;
  /** Their ids, sorted (only when `withIds`). */
  ids?: number[];
  /** Commits completed (restored from the snapshot: counts across restarts). */
  commits: number;
  /** Wanderers handed to each region (by index), in commits. */
  sentTo: number[];
  /** Wanderers adopted from each region (by index), committed or not yet. */
  adoptedFrom: number[];
  /** Whether handoffs are held (see {@linkcode Shard.hold}). */
  holding: boolean;
  /** Holding, and a commit begun after the hold has completed: nothing leaves any more. */
  held: boolean;
  /** "snapshot" if this process restored its region from the broker, else "seed". */
  restoredFrom: "snapshot" | "seed";
  /** Seconds from the process's start to its first commit (null before it). */
  recoverySeconds: number | null;
  /** Handoffs dropped as copies of a generation already seen. */
  duplicates: number;
  /** Messages in the handoff queue that were not handoffs (reported, dropped). */
  rejected: number;
  /** Steps taken by the region's wanderers since this process started. */
  steps: number;
  /** Bytes of the last snapshot. */
  snapshotBytes: number;
  /** Milliseconds the last commit took (capture to commit-ok). */
  commitMilliseconds: number;
}

/** The queue names of region `regionId` in `namespace`. */
export function shardQueues(
  namespace: string,
  regionId: string,
): { handoff: string; snapshot: string } {
  return {
    handoff: `${namespace}.handoff.${regionId}`,
    snapshot: `${namespace}.snapshot.${regionId}`,
  };
}

/**
 * Deletes the queues of every region of `grid` in `namespace` (a field that is over).
 * Interruption point.
 */
export async function deleteShardQueues(
  channel: AmqpChannel,
  namespace: string,
  grid: RegionGrid,
): Promise<void> {
  for (const region of grid.regions) {
    const q = shardQueues(namespace, region.id);
    await channel.queueDelete(q.handoff);
    await channel.queueDelete(q.snapshot);
  }
}

/** A shard: see the module notes. Made by {@linkcode Shard.open}, run by `run`. */
export class Shard {
  /** The region's world (its boxes: the whole field's, from the seed). */
  readonly world: World;
  /** The grid. */
  readonly grid: RegionGrid;
  /** This shard's region. */
  readonly region: Region;
  /** The broker connection (a frame publisher may open its own channels on it). */
  readonly connection: AmqpConnection;
  readonly #channel: AmqpChannel;
  readonly #queues: { handoff: string; snapshot: string };
  readonly #allQueues: string[];
  readonly #commitSeconds: number;
  readonly #prefetch: number;
  readonly #persistent: boolean;
  readonly #started: number;
  /** Wanderers that stepped out since the last commit. */
  readonly #leavers = new Set<Wanderer>();
  /** Highest generation seen per wanderer id (dedupe). */
  readonly #seen = new Map<number, number>();
  readonly #sentTo: number[];
  readonly #adoptedFrom: number[];
  #begun = 0;
  #committed = 0;
  #holding = false;
  #holdAfter = 0;
  /** Highest delivery tag processed (adopted or dropped), and the highest acked. */
  #processedTag = 0n;
  #ackedTag = 0n;
  #restoredFrom: "snapshot" | "seed" = "seed";
  #recoverySeconds: number | null = null;
  #duplicates = 0;
  #rejected = 0;
  #snapshotBytes = 0;
  #commitMilliseconds = 0;

  private constructor(
    options: ShardOptions,
    world: World,
    connection: AmqpConnection,
    channel: AmqpChannel,
    started: number,
  ) {
    this.grid = options.grid;
    this.region = options.grid.regions[options.region];
    this.world = world;
    this.connection = connection;
    this.#channel = channel;
    const namespace = options.namespace ?? "mmo";
    this.#queues = shardQueues(namespace, this.region.id);
    this.#allQueues = options.grid.regions.map((r) => shardQueues(namespace, r.id).handoff);
    this.#commitSeconds = options.commitSeconds ?? 0.2;
    this.#prefetch = options.prefetch ?? 256;
    this.#persistent = options.durable ?? false;
    this.#started = started;
    this.#sentTo = new Array(options.grid.count).fill(0);
    this.#adoptedFrom = new Array(options.grid.count).fill(0);
  }

  /**
   * Connects, declares the field's queues, and restores the region: from its last
   * snapshot if the broker has one, else from the seed (the initial wanderers in the
   * region). The wanderers start at once, in a group owned by the calling thread.
   * Interruption point.
   * @throws {RangeError} for a region index or sizes that do not fit the grid
   * @throws {AmqpError} and the connection's errors
   */
  static async open(options: ShardOptions): Promise<Shard> {
    const started = now();
    const grid = options.grid;
    const world = new World(options);
    if (world.size !== grid.size) {
      throw new RangeError(`the grid is for a world of ${grid.size}, not ${world.size}`);
    }
    if (!Number.isInteger(options.region) || grid.regions[options.region] === undefined) {
      throw new RangeError(`no region ${options.region} in a ${grid} grid`);
    }
    const commitSeconds = options.commitSeconds ?? 0.2;
    if (!(commitSeconds > 0)) throw new RangeError(`commitSeconds must be > 0: ${commitSeconds}`);
    const connection = await AmqpConnection.connect(options.amqp);
    try {
      const channel = await connection.channel();
      const shard = new Shard(options, world, connection, channel, started);
      await shard.#declare(options.durable ?? false);
      await shard.#restore(options.seed ?? 1);
      return shard;
    } catch (e) {
      await world.stop();
      await connection.close();
      throw e;
    }
  }

  async #declare(durable: boolean): Promise<void> {
    const ch = this.#channel;
    // Every region's handoff queue, declared by every shard before anything is published:
    // a handoff to a region whose shard has not started yet waits in its queue (to the
    // default exchange, a queue that does not exist would drop it silently).
    for (const queue of this.#allQueues) await ch.queueDeclare(queue, { durable });
    await ch.queueDeclare(this.#queues.snapshot, {
      durable,
      arguments: { "x-max-length": 1, "x-overflow": "drop-head" },
    });
    await ch.qos(this.#prefetch);
    await ch.txSelect();
  }

  async #restore(seed: number): Promise<void> {
    const region = this.region;
    // The wanderers' choices draw from a source of their own per region (and per process:
    // a restarted shard need not replay its predecessor's draws).
    this.world.startRegion({
      bounds: region,
      onLeave: (w) => this.#leavers.add(w),
      seed: seed * 1000003 + region.index * 7919 + (Deno.pid & 0xffff),
    });
    const got = await this.#channel.get(this.#queues.snapshot);
    if (got === null) {
      for (const w of this.world.initialWanderers()) {
        if (this.grid.indexAt(w.fx / 256, w.fy / 256) === region.index) this.#adopt(w);
      }
      return;
    }
    // Held unacked until the first commit acks it with the snapshot that replaces it: a
    // shard killed before that finds it in the queue again.
    this.#processedTag = got.deliveryTag;
    const snapshot = decodeSnapshot(got.body);
    if (snapshot.region !== region.index || snapshot.sentTo.length !== this.grid.count) {
      throw new StateCodecError(
        `the snapshot in ${this.#queues.snapshot} is of region ${snapshot.region} of ` +
          `${snapshot.sentTo.length} (another field's?): use another namespace`,
      );
    }
    this.#restoredFrom = "snapshot";
    this.#begun = this.#committed = snapshot.commit;
    for (let i = 0; i < this.grid.count; i++) {
      this.#sentTo[i] = snapshot.sentTo[i];
      this.#adoptedFrom[i] = snapshot.adoptedFrom[i];
    }
    for (const w of snapshot.wanderers) this.#adopt(w);
  }

  #adopt(state: WandererState): boolean {
    const seen = this.#seen.get(state.id);
    if ((seen !== undefined && seen >= state.generation) || this.world.owned.has(state.id)) {
      this.#duplicates++;
      return false;
    }
    this.#seen.set(state.id, state.generation);
    const w = this.world.adopt(state);
    // It may arrive already outside (it stepped on while its handoff was committed).
    const x = w.x, y = w.y, r = this.region;
    if (x < r.x0 || x >= r.x1 || y < r.y0 || y >= r.y1) {
      w.outside = true;
      this.#leavers.add(w);
    }
    return true;
  }

  /**
   * Runs the shard: adopts handoffs as they come and commits every `commitSeconds`,
   * until `until` resolves; then commits once more (a graceful stop loses no movement)
   * and returns. Interruption point.
   * @throws what failed (the broker gone, a commit refused): the process should exit and
   *   be restarted from the last commit
   */
  async run(until: () => Promise<unknown>): Promise<void> {
    const consumer = await this.#channel.consume(this.#queues.handoff);
    let stopping = false;
    await new ThreadGroup({ name: `shard ${this.region.id}` }).run(async (group) => {
      group.spawn({ name: "shard handoffs" }, () => this.#receive(consumer));
      const committer = group.spawn({ name: "shard commits" }, async () => {
        const pacer = new Pacer(this.#commitSeconds);
        for (;;) {
          await this.#commit();
          if (stopping) return;
          await pacer.next();
        }
      });
      await until();
      // The committer is never interrupted inside a commit (the broker refuses a command
      // sent while it commits: 504): it makes a last one at its next beat, and ends.
      stopping = true;
      await committer.join();
      group.shutdown();
    });
  }

  async #receive(consumer: Consumer): Promise<void> {
    for (;;) {
      const d = await consumer.next();
      if (d === null) return;
      try {
        const handoff = decodeHandoff(d.body);
        let adopted = 0;
        for (const w of handoff.wanderers) if (this.#adopt(w)) adopted++;
        if (handoff.from < this.#adoptedFrom.length) this.#adoptedFrom[handoff.from] += adopted;
      } catch (e) {
        if (!(e instanceof StateCodecError)) throw e;
        // Not ours (someone published to our queue): said, dropped with the next commit.
        this.#rejected++;
        console.error(`shard ${this.region.id}: dropped a message in its handoff queue:`, e);
      }
      this.#processedTag = d.deliveryTag;
    }
  }

  /** One transaction: handoffs out, acks in, the region's snapshot; see the module notes. */
  async #commit(): Promise<void> {
    const t0 = performance.now();
    const commit = ++this.#begun;
    // Capture, synchronously: the handoffs, the snapshot and the ack all describe one
    // instant (no wanderer steps and no handoff is adopted in between).
    const out = new Map<number, WandererState[]>();
    if (!this.#holding) {
      for (const w of this.#leavers) {
        this.#leavers.delete(w);
        if (w.gone) continue;
        const to = this.grid.indexAt(w.x, w.y);
        if (to === this.region.index) {
          w.outside = false; // back home before the commit
          continue;
        }
        this.world.release(w);
        const state = {
          id: w.id,
          color: w.color,
          fx: w.fx,
          fy: w.fy,
          dx: w.dx,
          dy: w.dy,
          stepsLeft: w.stepsLeft,
          generation: w.generation + 1,
        };
        this.#seen.set(w.id, state.generation);
        let list = out.get(to);
        if (list === undefined) out.set(to, list = []);
        list.push(state);
        this.#sentTo[to]++;
      }
    }
    const owned = this.world.owned;
    const snapshot = encodeSnapshot(
      {
        region: this.region.index,
        commit,
        sentTo: this.#sentTo,
        adoptedFrom: this.#adoptedFrom,
      },
      this.grid.count,
      owned.values(),
      owned.size,
    );
    const ackTo = this.#processedTag;
    // Then send: all of it takes effect at the commit, or none of it.
    const ch = this.#channel;
    const properties = this.#persistent ? { deliveryMode: 2 } : {};
    for (const [to, wanderers] of out) {
      await ch.publish(
        "",
        this.#allQueues[to],
        encodeHandoff({ from: this.region.index, to, wanderers }),
        properties,
      );
    }
    await ch.publish("", this.#queues.snapshot, snapshot, properties);
    if (ackTo > this.#ackedTag) await ch.ack(ackTo, true);
    await ch.txCommit();
    this.#ackedTag = ackTo;
    this.#committed = commit;
    this.#snapshotBytes = snapshot.length;
    this.#commitMilliseconds = performance.now() - t0;
    this.#recoverySeconds ??= now() - this.#started;
  }

  /**
   * Holds handoffs (`on`), or lets them go again: while held, wanderers that leave the
   * region stay here (and keep wandering past its border). For tests and maintenance: once
   * every shard reports `held`, no handoff is on its way except those already committed.
   */
  hold(on: boolean): void {
    if (on && !this.#holding) this.#holdAfter = this.#begun;
    this.#holding = on;
  }

  /** What the shard holds and has done; `withIds` adds the ids of its wanderers. */
  statistics(withIds = false): ShardStatistics {
    const s: ShardStatistics = {
      region: this.region.id,
      index: this.region.index,
      pid: Deno.pid,
      wanderers: this.world.owned.size,
      commits: this.#committed,
      sentTo: [...this.#sentTo],
      adoptedFrom: [...this.#adoptedFrom],
      holding: this.#holding,
      held: this.#holding && this.#committed > this.#holdAfter,
      restoredFrom: this.#restoredFrom,
      recoverySeconds: this.#recoverySeconds,
      duplicates: this.#duplicates,
      rejected: this.#rejected,
      steps: this.world.steps,
      snapshotBytes: this.#snapshotBytes,
      commitMilliseconds: Math.round(this.#commitMilliseconds * 10) / 10,
    };
    if (withIds) s.ids = [...this.world.owned.keys()].sort((a, b) => a - b);
    return s;
  }

  /** Stops the wanderers and closes the connection (uncommitted work is dropped). */
  async close(): Promise<void> {
    try {
      await this.world.stop();
    } finally {
      await this.connection.close();
    }
  }
}

function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function numberFlag(args: string[], name: string): number | undefined {
  const raw = flag(args, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new RangeError(`--${name} must be a number, not ${raw}`);
  return n;
}

/**
 * The shard options of a command line (`--shards=WxH`, `--amqp=`, the world's options,
 * `--commit-seconds`, `--namespace`, `--durable`), for region `region`.
 * @throws {GridSpecError} for a bad `--shards`; {@linkcode RangeError} for a bad number;
 *   `TypeError` for a bad `--amqp` URL
 */
export function shardOptionsFromArgs(args: string[], region: number): ShardOptions {
  const size = numberFlag(args, "size") ?? 20480;
  return {
    grid: RegionGrid.parse(flag(args, "shards") ?? "1x1", size),
    region,
    amqp: parseAmqpUrl(flag(args, "amqp") ?? "amqp://127.0.0.1:5672"),
    namespace: flag(args, "namespace") ?? "mmo",
    size,
    wanderers: numberFlag(args, "wanderers") ?? 1000,
    boxes: numberFlag(args, "boxes") ?? 5000,
    seed: numberFlag(args, "seed") ?? 1,
    steps: numberFlag(args, "steps") ?? 20,
    stepSeconds: numberFlag(args, "step-seconds") ?? 0.1,
    commitSeconds: numberFlag(args, "commit-seconds") ?? 0.2,
    durable: args.includes("--durable"),
  };
}

if (import.meta.main) {
  const id = workerId();
  if (id === null) {
    console.error(
      "shard.ts runs as a worker of demos/mmo/sharded/launch.ts (deno task demo:mmo --shards=WxH)",
    );
    Deno.exit(2);
  }
  await main(async () => {
    const options = shardOptionsFromArgs(Deno.args, id - 1);
    const shard = await Shard.open(options);
    let publisher: FramePublisher | null = null;
    try {
      // The gateways' view of the region: tile frames and summaries on a channel of its own.
      publisher = await startFramePublisher(shard.world, shard.connection, shard.region, {
        grid: options.grid,
        seed: options.seed ?? 1,
        boxes: options.boxes ?? 5000,
        namespace: options.namespace,
        fps: numberFlag(Deno.args, "fps") ?? 20,
      });
      const member = await joinCluster({
        statistics: () => shard.statistics(),
        answers: {
          ids: () => shard.statistics(true),
          hold: () => (shard.hold(true), shard.statistics()),
          release: () => (shard.hold(false), shard.statistics()),
        },
      });
      // Until a stop request: SIGTERM (the supervisor's), the supervisor gone, or SIGINT
      // (a Ctrl-C in the launcher's terminal reaches the shards too: they stop as on
      // SIGTERM, with a last commit). The broker failing fails the shard's threads, and so
      // `run`.
      const stop = new Event();
      const onInterrupt = () => stop.set();
      Deno.addSignalListener("SIGINT", onInterrupt);
      const watch = spawn({ name: "shard stop watch" }, async () => {
        await member.waitForStop();
        stop.set();
      });
      try {
        await shard.run(() => stop.wait());
      } finally {
        Deno.removeSignalListener("SIGINT", onInterrupt);
        watch.shutdown();
        member.close();
      }
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      console.error(`shard ${id}: failed; exits to be restarted from its last commit:`, e);
      throw e;
    } finally {
      try {
        await publisher?.stop();
      } finally {
        await shard.close();
      }
    }
  }, { signals: [] });
}
