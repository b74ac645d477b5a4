/**
 * A shard of the sharded field: one process owning the wanderers of one region of the
 * grid, each a thread (the {@linkcode World} of the one-process demo, as a region world).
 * Boxes are regenerated from the seed (the same in every shard); wanderers cross borders
 * by **handoff through RabbitMQ**, never lost and never duplicated:
 *
 * Every `commitSeconds` (0.2) the shard commits one AMQP transaction holding (1) the
 * handoffs of the wanderers that left its region since the last commit, their state as
 * of this commit, published to the queue of the region each is in now; (2) the acks of
 * the handoffs it received and adopted; (3) a journal entry (to its own journal queue)
 * saying what the commit changed: the ids handed off, the wanderers adopted, the handoff
 * counters. A wanderer that crossed keeps wandering here until that commit, then is
 * released: its receiver continues from exactly there.
 *
 * Every `snapshotSeconds` (2), a commit's whole region (captured with it) goes to the
 * snapshot queue (`x-max-length` 1) once that commit is done, in a transaction of a second
 * channel that also acks the journal entries it covers. Snapshots are the big messages
 * (24 bytes a wanderer): kept out of the handoff commits, these stay small and quick.
 *
 * A killed shard restarts from its last snapshot plus the journal entries after it: its
 * region's membership is exactly that of its last commit (what it had adopted since is
 * delivered again, never acked; what it had handed off since was never sent, never
 * committed); positions are those of the snapshot, or of the handoff for wanderers
 * adopted after it. See docs/mmo-sharded.md.
 *
 * As a program it is a cluster worker (worker i + 1 owns region i), started by
 * `demos/mmo/sharded/launch.ts`:
 * `deno run -A --unstable-net demos/mmo/sharded/shard.ts --shards=2x2 --amqp=amqp://...`
 * (with the world's options: --wanderers --boxes --size --seed --steps --step-seconds,
 * and --commit-seconds --snapshot-seconds --namespace --fps --durable). It publishes its
 * region's frames for the gateways (`frames.ts`) as it goes.
 *
 * @module
 */

import { Interrupted, ShrapnelError, TimeoutError } from "../../../core/errors.ts";
import { EOFError, SocketError } from "../../../net/errors.ts";
import { sleep } from "../../../core/sleep.ts";
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
  AmqpError,
  type AmqpOptions,
  type Consumer,
  type Delivery,
} from "../../../proto/amqp/client.ts";
import { parseAmqpUrl } from "../../../proto/amqp/url.ts";
import { type Wanderer, type WandererState, World, type WorldOptions } from "../world.ts";
import { DropReport } from "./_drop_report.ts";
import { type FramePublisher, startFramePublisher } from "./frames.ts";
import { type Region, RegionGrid } from "./grid.ts";
import {
  decodeHandoff,
  decodeJournalEntry,
  decodeSnapshot,
  encodeHandoff,
  encodeJournalEntry,
  encodeSnapshot,
  type Handoff,
  type JournalEntry,
  type Snapshot,
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
   * Seconds between commits (0.2): how long a wanderer that left goes on in the old
   * region before its handoff (so a gateway's border margin must cover
   * `commitSeconds / stepSeconds + 1` steps of 13 px, plus the commit's own time).
   */
  commitSeconds?: number;
  /**
   * Seconds between snapshots (2): a kill rolls the positions of the region's wanderers
   * back to the last snapshot (at most this much movement, plus a snapshot's commit time).
   */
  snapshotSeconds?: number;
  /**
   * Seconds a starting shard waits for an unreachable broker (60): a broker restart costs
   * each shard one restart, not a crash loop.
   */
  brokerWaitSeconds?: number;
  /**
   * Seconds a starting shard waits for the region's previous owner to be gone (10), then
   * fails with {@linkcode RegionTakenError}.
   */
  ownershipWaitSeconds?: number;
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
  /** Commits completed (restored from the broker: counts across restarts). */
  commits: number;
  /** The commit of the last snapshot completed. */
  snapshotCommit: number;
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
  /** Journal entries this process replayed after the snapshot at its start. */
  replayed: number;
  /** Seconds from `Shard.open` (connect, restore) to the first commit (null before it). */
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
  /** Milliseconds the last snapshot took (capture to its commit-ok). */
  snapshotMilliseconds: number;
  /**
   * Steps taken over the last few seconds against the full rate (a step per wanderer per
   * `stepSeconds`): below 1 when the process cannot keep up, null until measured. An
   * overloaded shard steps its wanderers slower rather than miss its commits and heartbeats.
   */
  rate: number | null;
}

/**
 * The queue names of region `regionId` in `namespace`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardQueues } from "./shard.ts";
 * assert.equal(shardQueues("mmo", "1.0").handoff, "mmo.handoff.1.0");
 * ```
 */
export function shardQueues(
  namespace: string,
  regionId: string,
): { handoff: string; snapshot: string; journal: string } {
  return {
    handoff: `${namespace}.handoff.${regionId}`,
    snapshot: `${namespace}.snapshot.${regionId}`,
    journal: `${namespace}.journal.${regionId}`,
  };
}

/**
 * Deletes the queues of every region of `grid` in `namespace` (a field that is over).
 * Interruption point.
 *
 * @example
 * ```ts ignore
 * const amqp = await AmqpConnection.connect();
 * await deleteShardQueues(await amqp.channel(), "mmo", RegionGrid.parse("2x2", 20480));
 * ```
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
    await channel.queueDelete(q.journal);
  }
}

interface PendingSnapshot {
  commit: number;
  bytes: Uint8Array;
  captured: number;
}

/**
 * Another live process owns the region (it holds the exclusive consumer of the region's
 * handoff queue): two shards of one region would each restore it, and duplicate it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegionTakenError } from "./shard.ts";
 * assert.ok(new RegionTakenError("region 0.0") instanceof Error);
 * ```
 */
export class RegionTakenError extends ShrapnelError {}

/**
 * Connects to the broker, waiting up to `seconds` for one that is down or restarting
 * (refused, reset, cut short, silent): a shard restarted because the broker went away
 * waits for it here instead of crashing again, which the supervisor would soon take for a
 * crash loop and give up on. Says once that it waits. A refused login is not waited on.
 */
async function connectWaiting(
  options: AmqpOptions,
  seconds: number,
  regionId: string,
): Promise<AmqpConnection> {
  const deadline = now() + seconds;
  let backoff = 0.1, said = false;
  for (;;) {
    try {
      return await AmqpConnection.connect(options);
    } catch (e) {
      const unreachable = e instanceof SocketError || e instanceof EOFError ||
        e instanceof TimeoutError;
      if (!unreachable || now() + backoff > deadline) throw e;
      if (!said) {
        said = true;
        console.error(
          `shard ${regionId}: the broker is not reachable (${e}); trying again for ${seconds} s`,
        );
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 2);
    }
  }
}

/**
 * Takes the region: the exclusive consumer of its handoff queue, before anything of its
 * state is read. The broker gives it to one connection at a time and frees it when that
 * connection ends (at once for a killed process on this machine's kernel; after the
 * heartbeat timeout for a vanished machine), so a restarted shard waits up to `seconds`
 * for its predecessor's connection to be gone.
 */
async function ownRegion(
  connection: AmqpConnection,
  queue: string,
  durable: boolean,
  prefetch: number,
  seconds: number,
): Promise<[AmqpChannel, Consumer]> {
  const deadline = now() + seconds;
  for (;;) {
    const channel = await connection.channel();
    await channel.queueDeclare(queue, { durable });
    await channel.qos(prefetch); // for the consumers started after it: this one
    try {
      return [channel, await channel.consume(queue, { exclusive: true })];
    } catch (e) {
      // 403 ACCESS_REFUSED: another connection consumes it exclusively (the channel is gone).
      if (!(e instanceof AmqpError && e.code === 403)) throw e;
      if (now() >= deadline) {
        throw new RegionTakenError(
          `${queue} is consumed by another live shard: its region has an owner (a second ` +
            `shard of one region would duplicate it; shards are restarted stop-first)`,
          { cause: e },
        );
      }
      await sleep(0.2);
    }
  }
}

/**
 * A shard: see the module notes. Made by {@linkcode Shard.open}, run by `run`.
 *
 * @example
 * ```ts ignore
 * const shard = await Shard.open({ grid: RegionGrid.parse("2x2", 20480), region: 0 });
 * try {
 *   await shard.run(() => member.waitForStop()); // commits until asked to stop
 * } finally {
 *   await shard.close();
 * }
 * ```
 */
export class Shard {
  /** The region's world (its boxes: the whole field's, from the seed). */
  readonly world: World;
  /** The grid. */
  readonly grid: RegionGrid;
  /** This shard's region. */
  readonly region: Region;
  /** The broker connection (a frame publisher may open its own channels on it). */
  readonly connection: AmqpConnection;
  /** Handoffs in and out, journal entries: the commits. */
  readonly #channel: AmqpChannel;
  /** Snapshots, and the journal entries they make obsolete. */
  readonly #snapshotChannel: AmqpChannel;
  readonly #queues: { handoff: string; snapshot: string; journal: string };
  readonly #allQueues: string[];
  readonly #commitSeconds: number;
  readonly #snapshotSeconds: number;
  readonly #persistent: boolean;
  readonly #started: number;
  /** Wanderers of the whole field: their ids are 1..this. */
  readonly #population: number;
  /** Wanderers that stepped out since the last commit. */
  readonly #leavers = new Set<Wanderer>();
  /** Wanderers adopted since the last commit's capture, as they arrived. */
  #adoptedSince: WandererState[] = [];
  /** Highest generation seen per wanderer id (dedupe). */
  readonly #seen = new Map<number, number>();
  readonly #sentTo: number[];
  readonly #adoptedFrom: number[];
  #begun = 0;
  #committed = 0;
  #holding = false;
  #holdAfter = 0;
  /** Highest handoff delivery tag processed (adopted or dropped), and the highest acked. */
  #processedTag = 0n;
  #ackedTag = 0n;
  /** Journal entries held unacked on the snapshot channel, in commit order. */
  #journal: { tag: bigint; commit: number }[] = [];
  /** Highest tag of the snapshots got at the start (acked with the first snapshot). */
  #restoredSnapshotTag = 0n;
  #snapshotAckedTag = 0n;
  #pendingSnapshot: PendingSnapshot | null = null;
  readonly #snapshotWanted = new Event();
  #lastSnapshotCapture = -Infinity;
  #snapshotCommit = 0;
  #restoredFrom: "snapshot" | "seed" = "seed";
  #replayed = 0;
  #recoverySeconds: number | null = null;
  #duplicates = 0;
  #rejected = 0;
  /** Says what was dropped as garbage, without letting a flood of it flood stderr. */
  #drops: DropReport | undefined;
  #snapshotBytes = 0;
  #commitMilliseconds = 0;
  #snapshotMilliseconds = 0;
  readonly #stepSeconds: number;
  #rate: number | null = null;
  #rateSaid = false;
  /** The exclusive consumer of the region's handoff queue: the region's ownership. */
  #handoffs: Consumer | null = null;

  private constructor(
    options: ShardOptions,
    world: World,
    connection: AmqpConnection,
    channels: [AmqpChannel, AmqpChannel],
    started: number,
  ) {
    this.grid = options.grid;
    this.region = options.grid.regions[options.region];
    this.world = world;
    this.connection = connection;
    [this.#channel, this.#snapshotChannel] = channels;
    const namespace = options.namespace ?? "mmo";
    this.#queues = shardQueues(namespace, this.region.id);
    this.#allQueues = options.grid.regions.map((r) => shardQueues(namespace, r.id).handoff);
    this.#commitSeconds = options.commitSeconds ?? 0.2;
    this.#snapshotSeconds = options.snapshotSeconds ?? 2;
    this.#persistent = options.durable ?? false;
    this.#stepSeconds = options.stepSeconds ?? 0.1;
    this.#started = started;
    this.#population = options.wanderers ?? 1000;
    this.#sentTo = new Array(options.grid.count).fill(0);
    this.#adoptedFrom = new Array(options.grid.count).fill(0);
  }

  /**
   * Connects, declares the field's queues, and restores the region: from its last
   * snapshot and the journal entries after it if the broker has them, else from the seed
   * (the initial wanderers in the region). The wanderers start stepping with `run` (a
   * shard that cannot step them all at full rate finishes its setup first), in a group
   * owned by the calling thread. Interruption point.
   * @throws {RangeError} for a region index, sizes or periods that do not fit
   * @throws {StateCodecError} if the broker holds another field's state under the namespace
   * @throws {AmqpError} and the connection's errors
   */
  #dropReport(): DropReport {
    return this.#drops ??= new DropReport(`shard ${this.region.id}`);
  }

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
    for (
      const [name, value] of [["commitSeconds", options.commitSeconds ?? 0.2], [
        "snapshotSeconds",
        options.snapshotSeconds ?? 2,
      ]] as const
    ) {
      if (!(value > 0 && value < 3600)) {
        throw new RangeError(`${name} must be in (0, 3600): ${value}`);
      }
    }
    const connection = await connectWaiting(
      options.amqp ?? {},
      options.brokerWaitSeconds ?? 60,
      grid.regions[options.region].id,
    );
    try {
      const queues = shardQueues(options.namespace ?? "mmo", grid.regions[options.region].id);
      const [channel, handoffs] = await ownRegion(
        connection,
        queues.handoff,
        options.durable ?? false,
        options.prefetch ?? 256,
        options.ownershipWaitSeconds ?? 10,
      );
      const channels: [AmqpChannel, AmqpChannel] = [channel, await connection.channel()];
      const shard = new Shard(options, world, connection, channels, started);
      shard.#handoffs = handoffs;
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
    await ch.queueDeclare(this.#queues.journal, { durable });
    await ch.queueDeclare(this.#queues.snapshot, {
      durable,
      arguments: { "x-max-length": 1, "x-overflow": "drop-head" },
    });
    await ch.txSelect();
    await this.#snapshotChannel.txSelect();
  }

  async #restore(seed: number): Promise<void> {
    const region = this.region, ch = this.#snapshotChannel;
    // The wanderers' choices draw from a source of their own per region (and per process:
    // a restarted shard need not replay its predecessor's draws).
    this.world.startRegion({
      bounds: region,
      onLeave: (w) => this.#leavers.add(w),
      paused: true,
      seed: seed * 1000003 + region.index * 7919 + (Deno.pid & 0xffff),
    });
    // The newest snapshot (normally the only one), and every journal entry: all held
    // unacked on the snapshot channel until the first snapshot of this process acks them
    // with the snapshot that replaces them. A shard killed before that finds them again.
    let snapshot: Snapshot | null = null;
    for (let d: Delivery | null; (d = await ch.get(this.#queues.snapshot)) !== null;) {
      this.#restoredSnapshotTag = d.deliveryTag;
      const s = this.#check(decodeSnapshot(d.body));
      if (snapshot === null || s.commit > snapshot.commit) snapshot = s;
    }
    const entries: JournalEntry[] = [];
    for (let d: Delivery | null; (d = await ch.get(this.#queues.journal)) !== null;) {
      let entry: JournalEntry;
      try {
        entry = decodeJournalEntry(d.body);
      } catch (e) {
        if (!(e instanceof StateCodecError)) throw e;
        // Not a journal entry (someone published to the queue): as at run time, reported
        // and dropped (acked with the first snapshot), not a shard that can never start.
        this.#rejected++;
        this.#dropReport().dropped("a message in its journal queue", e);
        this.#journal.push({ tag: d.deliveryTag, commit: 0 });
        continue;
      }
      this.#check(entry); // another field's journal is refused: its state is not ours
      this.#journal.push({ tag: d.deliveryTag, commit: entry.commit });
      entries.push(entry);
    }
    const wanderers = new Map<number, WandererState>();
    let base = 0;
    if (snapshot === null) {
      for (const w of this.world.initialWanderers()) {
        if (this.grid.indexAt(w.fx / 256, w.fy / 256) === region.index) wanderers.set(w.id, w);
      }
    } else {
      this.#restoredFrom = "snapshot";
      base = this.#snapshotCommit = snapshot.commit;
      for (const w of snapshot.wanderers) wanderers.set(w.id, w);
      this.#setCounters(snapshot);
    }
    let last = base;
    for (const entry of entries.sort((a, b) => a.commit - b.commit)) {
      if (entry.commit <= base) continue; // covered by the snapshot
      // Adopted, then handed off, in one commit: it came and went again.
      for (const w of entry.adopted) wanderers.set(w.id, w);
      for (const id of entry.released) wanderers.delete(id);
      this.#setCounters(entry);
      last = entry.commit;
      this.#replayed++;
    }
    this.#begun = this.#committed = last;
    for (const w of wanderers.values()) this.#adopt(w);
    this.#adoptedSince = []; // these are this region's already
  }

  #check<T extends { region: number; columns: number; rows: number; sentTo: number[] }>(
    state: T,
  ): T {
    if (
      state.region !== this.region.index || state.columns !== this.grid.columns ||
      state.rows !== this.grid.rows || state.sentTo.length !== this.grid.count
    ) {
      throw new StateCodecError(
        `the broker holds state of region ${state.region} of a ${state.columns}x${state.rows} ` +
          `grid under the queues of region ${this.region.id} of ${this.grid}: another ` +
          `field's? (use another namespace, or delete the old field's queues)`,
      );
    }
    return state;
  }

  /**
   * A handoff addressed here, from another region of the grid, of wanderers of this
   * field (ids 1..wanderers, in the world): anything else someone published to the queue,
   * or a queue left over from a field of another grid, is not adopted (a shard that did
   * would hold whatever anyone sends, and duplicate wanderers of other regions).
   * @throws {StateCodecError} for a handoff that is not
   */
  #checkHandoff(h: Handoff): Handoff {
    const here = this.region.index;
    if (h.to !== here || h.from === here || h.from >= this.grid.count) {
      throw new StateCodecError(
        `a handoff from region ${h.from} to ${h.to} in the queue of region ${here} of ${this.grid}`,
      );
    }
    const limit = this.world.size * 256;
    for (const w of h.wanderers) {
      if (
        w.id < 1 || w.id > this.#population || w.generation < 1 ||
        !(w.fx >= 0 && w.fx <= limit && w.fy >= 0 && w.fy <= limit)
      ) {
        throw new StateCodecError(
          `a handoff of wanderer ${w.id} (generation ${w.generation}) at ` +
            `(${w.fx / 256}, ${w.fy / 256}): not of this field of ${this.#population}`,
        );
      }
    }
    return h;
  }

  #setCounters(state: { sentTo: number[]; adoptedFrom: number[] }): void {
    for (let i = 0; i < this.grid.count; i++) {
      this.#sentTo[i] = state.sentTo[i];
      this.#adoptedFrom[i] = state.adoptedFrom[i];
    }
  }

  #adopt(state: WandererState): boolean {
    const seen = this.#seen.get(state.id);
    if ((seen !== undefined && seen >= state.generation) || this.world.owned.has(state.id)) {
      this.#duplicates++;
      return false;
    }
    this.#seen.set(state.id, state.generation);
    const w = this.world.adopt(state);
    this.#adoptedSince.push(state);
    // It may arrive already outside (it stepped on while its handoff was committed).
    const x = w.x, y = w.y, r = this.region;
    if (x < r.x0 || x >= r.x1 || y < r.y0 || y >= r.y1) {
      w.outside = true;
      this.#leavers.add(w);
    }
    return true;
  }

  /**
   * Runs the shard: adopts handoffs as they come, commits every `commitSeconds` and
   * snapshots every `snapshotSeconds`, until `until` resolves; then commits and snapshots
   * once more (a graceful stop loses no movement) and returns. Interruption point.
   * @throws what failed (the broker gone, a commit refused): the process should exit and
   *   be restarted from the last commit
   */
  async run(until: () => Promise<unknown>): Promise<void> {
    const handoffs = this.#handoffs!;
    const journal = await this.#snapshotChannel.consume(this.#queues.journal);
    let stopping = false;
    this.world.resumeRegion();
    await new ThreadGroup({ name: `shard ${this.region.id}` }).run(async (group) => {
      group.spawn({ name: "shard handoffs" }, () => this.#receive(handoffs));
      group.spawn({ name: "shard journal" }, () => this.#receiveJournal(journal));
      const committer = group.spawn({ name: "shard commits" }, async () => {
        const pacer = new Pacer(this.#commitSeconds);
        for (;;) {
          // The last commit is one begun after the stop request (it carries the snapshot),
          // not one the request arrived during.
          const last = stopping;
          await this.#commit(last);
          if (last) return;
          await pacer.next();
        }
      });
      group.spawn({ name: "shard rate" }, () => this.#watchRate());
      const snapshotter = group.spawn({ name: "shard snapshots" }, async () => {
        for (;;) {
          await this.#snapshotWanted.wait();
          this.#snapshotWanted.clear();
          const pending = this.#pendingSnapshot;
          this.#pendingSnapshot = null;
          if (pending !== null) await this.#snapshot(pending);
          if (stopping && committer.dead && this.#pendingSnapshot === null) return;
        }
      });
      await until();
      // Neither committer nor snapshotter is interrupted inside a transaction (the broker
      // refuses a command sent while it commits: 504): the committer makes a last commit,
      // with a snapshot, at its next beat; the snapshotter commits that, and both end.
      stopping = true;
      await committer.join();
      this.#snapshotWanted.set();
      await snapshotter.join();
      group.shutdown();
    });
  }

  /**
   * Measures the step rate against the full rate every few seconds; says once when the
   * shard cannot keep up (its wanderers then step slower: each pacer makes up at most a
   * fifth of a period of lateness, and the scheduler lets I/O in between batches of them).
   */
  async #watchRate(): Promise<void> {
    const every = 2;
    // From one period on: the first beats of freshly started wanderers are not a rate.
    await sleep(every);
    let steps = this.world.steps, t = now();
    for (;;) {
      await sleep(every);
      const s = this.world.steps, t1 = now(), held = this.world.owned.size;
      if (held > 0) {
        const rate = (s - steps) / (t1 - t) / (held / this.#stepSeconds);
        this.#rate = Math.round(rate * 1000) / 1000;
        if (rate < 0.9 && !this.#rateSaid) {
          this.#rateSaid = true;
          console.error(
            `shard ${this.region.id}: stepping at ${Math.round(rate * 100)}% of full rate ` +
              `(${held} wanderers, a step each ${this.#stepSeconds} s): the process cannot ` +
              `keep up; use more shards (--shards) or fewer wanderers per shard`,
          );
        }
      }
      steps = s;
      t = t1;
    }
  }

  async #receive(consumer: Consumer): Promise<void> {
    for (;;) {
      const d = await consumer.next();
      if (d === null) return;
      try {
        const handoff = this.#checkHandoff(decodeHandoff(d.body));
        let adopted = 0;
        for (const w of handoff.wanderers) if (this.#adopt(w)) adopted++;
        if (handoff.from < this.#adoptedFrom.length) this.#adoptedFrom[handoff.from] += adopted;
      } catch (e) {
        if (!(e instanceof StateCodecError)) throw e;
        // Not ours (someone published to our queue): said, dropped with the next commit.
        this.#rejected++;
        this.#dropReport().dropped("a message in its handoff queue", e);
      }
      this.#processedTag = d.deliveryTag;
    }
  }

  /** This shard's journal entries as they are committed: held until a snapshot covers them. */
  async #receiveJournal(consumer: Consumer): Promise<void> {
    for (;;) {
      const d = await consumer.next();
      if (d === null) return;
      let commit: number;
      try {
        commit = this.#check(decodeJournalEntry(d.body)).commit;
      } catch (e) {
        if (!(e instanceof StateCodecError)) throw e;
        this.#rejected++;
        this.#dropReport().dropped("a message in its journal queue", e);
        commit = 0; // acked with the next snapshot
      }
      this.#journal.push({ tag: d.deliveryTag, commit });
    }
  }

  /**
   * One transaction: handoffs out, acks in, the journal entry; see the module notes. With
   * a snapshot due (or `final`), the region as of this commit is captured for the
   * snapshotter, which publishes it once this commit is done.
   */
  async #commit(final: boolean): Promise<void> {
    const t0 = performance.now();
    const commit = ++this.#begun;
    // Capture, synchronously: the handoffs, the journal entry, the snapshot and the ack
    // all describe one instant (no wanderer steps and no handoff is adopted in between).
    const out = new Map<number, WandererState[]>();
    const released: number[] = [];
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
        released.push(w.id);
        this.#sentTo[to]++;
      }
    }
    const entry = encodeJournalEntry({
      region: this.region.index,
      columns: this.grid.columns,
      rows: this.grid.rows,
      commit,
      sentTo: this.#sentTo,
      adoptedFrom: this.#adoptedFrom,
      released,
      adopted: this.#adoptedSince,
    });
    this.#adoptedSince = [];
    let snapshot: PendingSnapshot | null = null;
    if (final || t0 / 1000 - this.#lastSnapshotCapture >= this.#snapshotSeconds) {
      const owned = this.world.owned;
      this.#lastSnapshotCapture = t0 / 1000;
      snapshot = {
        commit,
        captured: t0,
        bytes: encodeSnapshot(
          {
            region: this.region.index,
            columns: this.grid.columns,
            rows: this.grid.rows,
            commit,
            sentTo: this.#sentTo,
            adoptedFrom: this.#adoptedFrom,
          },
          owned.values(),
          owned.size,
        ),
      };
    }
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
    await ch.publish("", this.#queues.journal, entry, properties);
    if (ackTo > this.#ackedTag) await ch.ack(ackTo, true);
    await ch.txCommit();
    this.#ackedTag = ackTo;
    this.#committed = commit;
    this.#commitMilliseconds = performance.now() - t0;
    this.#recoverySeconds ??= now() - this.#started;
    if (snapshot !== null) {
      // Only now: a snapshot must never be ahead of the commits it describes. A newer one
      // replaces one the snapshotter has not taken yet.
      this.#pendingSnapshot = snapshot;
      this.#snapshotWanted.set();
    }
  }

  /** Publishes a snapshot and acks the journal entries it covers, in one transaction. */
  async #snapshot(s: PendingSnapshot): Promise<void> {
    let ackTo = this.#restoredSnapshotTag;
    for (const j of this.#journal) {
      if (j.commit > s.commit) break;
      ackTo = j.tag;
    }
    const ch = this.#snapshotChannel;
    await ch.publish(
      "",
      this.#queues.snapshot,
      s.bytes,
      this.#persistent ? { deliveryMode: 2 } : {},
    );
    if (ackTo > this.#snapshotAckedTag) await ch.ack(ackTo, true);
    await ch.txCommit();
    this.#snapshotAckedTag = ackTo;
    this.#journal = this.#journal.filter((j) => j.tag > ackTo);
    this.#snapshotCommit = s.commit;
    this.#snapshotBytes = s.bytes.length;
    this.#snapshotMilliseconds = performance.now() - s.captured;
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
      snapshotCommit: this.#snapshotCommit,
      sentTo: [...this.#sentTo],
      adoptedFrom: [...this.#adoptedFrom],
      holding: this.#holding,
      held: this.#holding && this.#committed > this.#holdAfter,
      restoredFrom: this.#restoredFrom,
      replayed: this.#replayed,
      recoverySeconds: this.#recoverySeconds,
      duplicates: this.#duplicates,
      rejected: this.#rejected,
      steps: this.world.steps,
      snapshotBytes: this.#snapshotBytes,
      commitMilliseconds: Math.round(this.#commitMilliseconds * 10) / 10,
      snapshotMilliseconds: Math.round(this.#snapshotMilliseconds * 10) / 10,
      rate: this.#rate,
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

/**
 * The environment variable a shard takes the broker's URL from when it has no `--amqp=`
 * (the launcher passes it so: a URL may hold a password, and any local user can read a
 * process's arguments, where only its owner reads its environment).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AMQP_URL_ENV } from "./shard.ts";
 * assert.equal(AMQP_URL_ENV, "MMO_AMQP_URL");
 * ```
 */
export const AMQP_URL_ENV = "MMO_AMQP_URL";

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
 * The shard options of a command line (`--shards=WxH`, `--amqp=` (else `$MMO_AMQP_URL`),
 * the world's options,
 * `--commit-seconds`, `--snapshot-seconds`, `--namespace`, `--durable`), for region `region`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardOptionsFromArgs } from "./shard.ts";
 * const o = shardOptionsFromArgs(["--shards=2x2", "--amqp=amqp://10.0.0.2", "--size=4000"], 3);
 * assert.equal(o.grid.regions[o.region].id, "1.1");
 * assert.equal(o.amqp!.host, "10.0.0.2");
 * ```
 * @throws {GridSpecError} for a bad `--shards`; {@linkcode RangeError} for a bad number;
 *   `TypeError` for a bad `--amqp` URL
 */
export function shardOptionsFromArgs(args: string[], region: number): ShardOptions {
  const size = numberFlag(args, "size") ?? 20480;
  return {
    grid: RegionGrid.parse(flag(args, "shards") ?? "1x1", size),
    region,
    amqp: parseAmqpUrl(flag(args, "amqp") ?? Deno.env.get(AMQP_URL_ENV) ?? "amqp://127.0.0.1:5672"),
    namespace: flag(args, "namespace") ?? "mmo",
    size,
    wanderers: numberFlag(args, "wanderers") ?? 1000,
    boxes: numberFlag(args, "boxes") ?? 5000,
    seed: numberFlag(args, "seed") ?? 1,
    steps: numberFlag(args, "steps") ?? 20,
    stepSeconds: numberFlag(args, "step-seconds") ?? 0.1,
    commitSeconds: numberFlag(args, "commit-seconds") ?? 0.2,
    snapshotSeconds: numberFlag(args, "snapshot-seconds") ?? 2,
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
