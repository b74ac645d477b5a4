/**
 * The field: a square world of static boxes and wandering circles, each wanderer a
 * thread, and viewports that learn when something in them changed.
 *
 * @module
 */

import { seededRandom } from "../../core/random.ts";
import { Event } from "../../core/sync/event.ts";
import { Pacer } from "../../core/pacer.ts";
import { ThreadGroup } from "../../core/thread_group.ts";
import { type Bounded, type QuadEntry, QuadTree } from "./quadtree.ts";

/** The seven colours of the original demo (index 0-6), as CSS colours for the page. */
export const COLORS: readonly string[] = [
  "#e6194b",
  "#3cb44b",
  "#ffe119",
  "#4363d8",
  "#f58231",
  "#911eb4",
  "#46f0f0",
];

/** A static box. */
export interface Box extends Bounded {
  /** Colour index into {@linkcode COLORS}. */
  color: number;
}

/** A wandering circle. */
export interface Mover extends Bounded {
  /** Its id, from 1. */
  id: number;
  /** Centre, in whole pixels. */
  x: number;
  /** Centre, in whole pixels. */
  y: number;
  /** Colour index. */
  color: number;
}

/**
 * A wanderer's whole state: what a shard of the sharded field hands to its neighbour
 * when the wanderer crosses a border, and keeps in its snapshots. Positions and steps are
 * in 1/256 px, as the wanderer's own loop keeps them: the receiver continues exactly
 * where the sender stopped.
 */
export interface WandererState {
  /** Its id, from 1. */
  id: number;
  /** Colour index. */
  color: number;
  /** Centre, in 1/256 px. */
  fx: number;
  /** Centre, in 1/256 px. */
  fy: number;
  /** Step per beat, in 1/256 px. */
  dx: number;
  /** Step per beat, in 1/256 px. */
  dy: number;
  /** Steps before it picks a new heading (0: it picks one before its next step). */
  stepsLeft: number;
  /** Handoffs so far: a receiver drops a copy of a generation it has already seen. */
  generation: number;
}

/**
 * A wanderer of a region (see {@linkcode World.adopt}): a mover whose state is kept on
 * itself, so that its shard can read it between steps and hand it off.
 */
export interface Wanderer extends Mover, WandererState {
  /** Set when it left its region (and the `onLeave` hook was called); cleared by its shard. */
  outside: boolean;
  /** Released: its thread ends at its next beat, without a step. */
  gone: boolean;
}

/** The region a {@linkcode World} owns in the sharded field, and who hears of leavers. */
export interface RegionOptions {
  /** The region: wanderers are watched for leaving `x0 <= x < x1`, `y0 <= y < y1`. */
  bounds: Bounded;
  /**
   * Called (synchronously, in the wanderer's thread, right after its step) when a
   * wanderer first steps outside `bounds` since its `outside` flag was cleared. It keeps
   * wandering until its shard releases it.
   */
  onLeave: (wanderer: Wanderer) => void;
  /** Seed of the region's wanderers' choices (default: the world's own source). */
  seed?: number;
  /**
   * Adopted wanderers wait, in the field but not stepping, until
   * {@linkcode World.resumeRegion} (false): a shard finishes its setup before its
   * wanderers compete with it for the processor.
   */
  paused?: boolean;
}

/** A viewer's window on the world. */
export class Viewport implements Bounded {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Set when something in view changed (a mover moved in or out, the view moved). */
  readonly changed: Event = new Event();
  /** Set when the view itself moved (the boxes must be sent again). */
  moved = true;
  /** @param x left; @param y top; @param size side */
  constructor(x: number, y: number, size: number) {
    this.x0 = x;
    this.y0 = y;
    this.x1 = x + size;
    this.y1 = y + size;
  }
}

/** Sizes and counts of a {@linkcode World}. */
export interface WorldOptions {
  /** Side of the square world (20480). */
  size?: number;
  /** Number of boxes (5000). */
  boxes?: number;
  /** Number of wanderer threads (1000). */
  wanderers?: number;
  /** Seconds per step (0.1). */
  stepSeconds?: number;
  /** Steps before a wanderer picks a new heading (20). */
  steps?: number;
  /** Seed of the layout and the wanderers' choices. */
  seed?: number;
}

const RADIUS = 25;
/** A wanderer's position is kept in 1/2^SUBPIXEL_BITS px (see `#wander`). */
const SUBPIXEL_BITS = 8;
const SUBPIXELS = 1 << SUBPIXEL_BITS;
/** Side of the movers' quadtree nodes that no longer split. */
const MOVER_NODE_MIN = 2048;
/** Up to this many viewports, a step checks each one instead of querying their tree. */
const FEW_VIEWERS = 32;

/**
 * The world: boxes, movers and viewports in three quadtrees, and a thread per wanderer.
 *
 * @example
 * ```ts ignore
 * const world = new World({ wanderers: 100 });
 * world.start();
 * const view = world.addViewport(0, 0, 1024);
 * await view.changed.wait();
 * ```
 */
export class World {
  /** Side of the world. */
  readonly size: number;
  /** The boxes. */
  readonly boxes: QuadTree<Box>;
  /** The movers. */
  readonly movers: QuadTree<Mover>;
  /** The viewports. */
  readonly viewports: QuadTree<Viewport>;
  /** Steps taken since start (all wanderers). */
  steps = 0;
  readonly #options: Required<WorldOptions>;
  readonly #random: () => number;
  /** The wanderers, while the world runs: a wanderer's error stops them all and is raised. */
  #wanderers: ThreadGroup | undefined;
  #swept: Bounded = { x0: 0, y0: 0, x1: 0, y1: 0 };
  #viewList: Viewport[] = [];
  /** The region's watch, when this world is one region of the sharded field. */
  #region: RegionOptions | null = null;
  #regionRandom: () => number = Math.random;
  /** The region's wanderers by id (sharded field only). */
  readonly #owned = new Map<number, Wanderer>();
  /** Wanderers adopted while the region is paused, not started yet (null: not paused). */
  #unstarted: [QuadEntry<Mover>, Wanderer][] | null = null;

  /** @param options sizes and counts */
  constructor(options: WorldOptions = {}) {
    this.#options = {
      size: options.size ?? 20480,
      boxes: options.boxes ?? 5000,
      wanderers: options.wanderers ?? 1000,
      stepSeconds: options.stepSeconds ?? 0.1,
      steps: options.steps ?? 20,
      seed: options.seed ?? 1,
    };
    this.size = this.#options.size;
    this.#random = seededRandom(this.#options.seed);
    this.boxes = new QuadTree<Box>(0, 0, this.size);
    // Movers' nodes stop splitting at 2048: a mover then changes node (a swap-removal and
    // an insertion, each touching other entries) 4x less often than at 512, the gain of
    // the moves (world alone at 100k: 0.82-0.88 -> 0.50-0.59 us of main thread per step)
    // far above what the viewers' queries lose scanning bigger nodes.
    this.movers = new QuadTree<Mover>(0, 0, this.size, MOVER_NODE_MIN);
    this.viewports = new QuadTree<Viewport>(0, 0, this.size);
    const r = this.#random;
    for (let i = 0; i < this.#options.boxes; i++) {
      const w = 50 + Math.floor(r() * 251), h = 50 + Math.floor(r() * 251);
      const x = Math.floor(r() * (this.size - w)), y = Math.floor(r() * (this.size - h));
      this.boxes.insert({ x0: x, y0: y, x1: x + w, y1: y + h, color: Math.floor(r() * 7) });
    }
  }

  /**
   * Starts the wanderer threads, in a group owned by the calling thread: an unexpected
   * error in one stops the others and is raised in that thread (see `ThreadGroup`).
   */
  start(): void {
    const wanderers = this.#wanderers = new ThreadGroup({ name: "wanderers" });
    for (let i = 1; i <= this.#options.wanderers; i++) {
      const r = this.#random;
      const x = RADIUS + Math.floor(r() * (this.size - 2 * RADIUS)),
        y = RADIUS + Math.floor(r() * (this.size - 2 * RADIUS));
      const mover: Mover = {
        id: i,
        x,
        y,
        x0: x - RADIUS,
        y0: y - RADIUS,
        x1: x + RADIUS,
        y1: y + RADIUS,
        color: Math.floor(r() * 7),
      };
      const entry = this.movers.insert(mover);
      wanderers.spawn({ name: `wanderer ${i}` }, () => this.#wander(entry));
    }
  }

  /**
   * Stops the wanderers; returns when they are gone.
   * @throws {ThreadGroupError} if a wanderer had died from an error not raised yet
   */
  async stop(): Promise<void> {
    const wanderers = this.#wanderers;
    this.#wanderers = undefined;
    wanderers?.shutdown();
    await wanderers?.join();
  }

  /**
   * The wanderers `start` would create, as states, without starting them: the same seeded
   * draws, so every shard of the sharded field computes the same initial field and keeps
   * the part in its region. Draws from the world's random source (call it once, first).
   */
  initialWanderers(): WandererState[] {
    const r = this.#random, out: WandererState[] = [];
    for (let i = 1; i <= this.#options.wanderers; i++) {
      const x = RADIUS + Math.floor(r() * (this.size - 2 * RADIUS)),
        y = RADIUS + Math.floor(r() * (this.size - 2 * RADIUS));
      out.push({
        id: i,
        color: Math.floor(r() * 7),
        fx: x * SUBPIXELS,
        fy: y * SUBPIXELS,
        dx: 0,
        dy: 0,
        stepsLeft: 0,
        generation: 0,
      });
    }
    return out;
  }

  /**
   * Makes this world one region of the sharded field: no wanderers of its own (`start`
   * is not called); {@linkcode World.adopt} adds them, and `onLeave` hears of those that
   * step out of `bounds`. Call once, before `adopt`. The wanderers run in a group owned
   * by the calling thread, as with `start`; `stop` ends them.
   */
  startRegion(region: RegionOptions): void {
    if (this.#wanderers !== undefined) throw new Error("the world is already started");
    this.#region = region;
    this.#regionRandom = region.seed === undefined ? this.#random : seededRandom(region.seed);
    this.#wanderers = new ThreadGroup({ name: "wanderers" });
    if (region.paused === true) this.#unstarted = [];
  }

  /**
   * Starts the wanderers adopted while the region was paused (see
   * {@linkcode RegionOptions.paused}); from now on `adopt` starts them at once. Does
   * nothing if the region is not paused.
   */
  resumeRegion(): void {
    const unstarted = this.#unstarted, wanderers = this.#wanderers;
    this.#unstarted = null;
    if (unstarted === null || wanderers === undefined) return;
    for (const [entry, w] of unstarted) {
      if (w.gone) continue;
      wanderers.spawn({ name: `wanderer ${w.id}` }, () => this.#wanderInRegion(entry, w));
    }
  }

  /**
   * Adds a wanderer in `state` and starts its thread (once the region is resumed, if
   * paused): it goes on from exactly that state (position, step, steps left). Its id must not be in the world already.
   * @throws {Error} outside a region world, or for an id already here
   */
  adopt(state: WandererState): Wanderer {
    const wanderers = this.#wanderers;
    if (this.#region === null || wanderers === undefined) {
      throw new Error("adopt needs a running region world (startRegion)");
    }
    if (this.#owned.has(state.id)) throw new Error(`wanderer ${state.id} is here already`);
    const x = (state.fx + SUBPIXELS / 2) >> SUBPIXEL_BITS,
      y = (state.fy + SUBPIXELS / 2) >> SUBPIXEL_BITS;
    const w: Wanderer = {
      id: state.id,
      x,
      y,
      x0: x - RADIUS,
      y0: y - RADIUS,
      x1: x + RADIUS,
      y1: y + RADIUS,
      color: state.color,
      fx: state.fx,
      fy: state.fy,
      dx: state.dx,
      dy: state.dy,
      stepsLeft: state.stepsLeft,
      generation: state.generation,
      outside: false,
      gone: false,
    };
    const entry = this.movers.insert(w);
    this.#owned.set(w.id, w);
    if (this.#unstarted !== null) this.#unstarted.push([entry, w]);
    else wanderers.spawn({ name: `wanderer ${w.id}` }, () => this.#wanderInRegion(entry, w));
    return w;
  }

  /**
   * Takes a wanderer out of the world (its shard handed it off): it leaves the movers'
   * tree now (viewers of its place see a change) and its thread ends at its next beat,
   * without a step.
   */
  release(w: Wanderer): void {
    if (w.gone) return;
    w.gone = true;
    this.#owned.delete(w.id);
    this.movers.remove(w);
    this.#notifyViewers(w.x0, w.y0, w.x1, w.y1);
  }

  /** The region's wanderers (sharded field; empty otherwise), by id. */
  get owned(): ReadonlyMap<number, Wanderer> {
    return this.#owned;
  }

  /** A region's wanderer: `#wander` with its state on the wanderer, and the border watch. */
  async #wanderInRegion(entry: QuadEntry<Mover>, w: Wanderer): Promise<void> {
    const r = this.#regionRandom, o = this.#options, limit = this.size - RADIUS;
    const region = this.#region!, bounds = region.bounds;
    // On a millisecond grid: 100k wanderers wake 1,000 a millisecond rather than 10,000
    // every 10 ms, whose last ones were late by the work of the 9,999 before them (~8
    // ms), which with a scavenge's pause (~20 ms) passed catchUp and lost beats.
    const pacer = new Pacer(o.stepSeconds, { lateness: "wake", grid: 0.001 });
    const low = RADIUS * SUBPIXELS, high = limit * SUBPIXELS;
    for (;;) {
      if (w.stepsLeft <= 0) {
        const heading = r() * 2 * Math.PI, speed = (3 + r() * 10) * SUBPIXELS;
        w.dx = Math.round(Math.cos(heading) * speed);
        w.dy = Math.round(Math.sin(heading) * speed);
        w.stepsLeft = o.steps;
      }
      await pacer.next();
      if (w.gone) return;
      w.fx += w.dx;
      w.fy += w.dy;
      if (w.fx < low || w.fx > high) {
        w.dx = -w.dx;
        w.fx = Math.min(Math.max(w.fx, low), high);
      }
      if (w.fy < low || w.fy > high) {
        w.dy = -w.dy;
        w.fy = Math.min(Math.max(w.fy, low), high);
      }
      w.stepsLeft--;
      const x = (w.fx + SUBPIXELS / 2) >> SUBPIXEL_BITS,
        y = (w.fy + SUBPIXELS / 2) >> SUBPIXEL_BITS;
      this.#moveTo(entry, x, y);
      if (
        !w.outside && (x < bounds.x0 || x >= bounds.x1 || y < bounds.y0 || y >= bounds.y1)
      ) {
        w.outside = true;
        region.onLeave(w);
      }
    }
  }

  #notifyViewers(x0: number, y0: number, x1: number, y1: number): void {
    if (this.viewports.size === 0) return;
    const swept = this.#swept;
    swept.x0 = x0;
    swept.y0 = y0;
    swept.x1 = x1;
    swept.y1 = y1;
    this.viewports.forEachIn(swept, notify);
  }

  async #wander(entry: QuadEntry<Mover>): Promise<void> {
    const mover = entry.item;
    const r = this.#random, o = this.#options, limit = this.size - RADIUS;
    // Paced steps keep the rate (a sleep per step runs slow by each wake-up's lateness),
    // and a pacer sleeps through its own thread: no lookup of the current thread per step.
    // A step's work is short: its lateness is measured at its wake, by the clock read
    // once for the whole batch of wanderers woken with it, not by a read per step.
    const pacer = new Pacer(o.stepSeconds, { lateness: "wake" });
    // Positions in 1/256 px: small integers, which V8 keeps in the objects and frames
    // themselves, where each double would be a separate heap box to chase at every step.
    const low = RADIUS * SUBPIXELS, high = limit * SUBPIXELS;
    let fx = mover.x * SUBPIXELS, fy = mover.y * SUBPIXELS;
    for (;;) {
      const heading = r() * 2 * Math.PI, speed = (3 + r() * 10) * SUBPIXELS;
      let dx = Math.round(Math.cos(heading) * speed), dy = Math.round(Math.sin(heading) * speed);
      for (let step = 0; step < o.steps; step++) {
        await pacer.next();
        fx += dx;
        fy += dy;
        if (fx < low || fx > high) {
          dx = -dx;
          fx = Math.min(Math.max(fx, low), high);
        }
        if (fy < low || fy > high) {
          dy = -dy;
          fy = Math.min(Math.max(fy, low), high);
        }
        this.#moveTo(
          entry,
          (fx + SUBPIXELS / 2) >> SUBPIXEL_BITS,
          (fy + SUBPIXELS / 2) >> SUBPIXEL_BITS,
        );
      }
    }
  }

  #moveTo(entry: QuadEntry<Mover>, x: number, y: number): void {
    const mover = entry.item;
    // Viewers of the old place and of the new one both see a change.
    const x0 = Math.min(mover.x0, x - RADIUS), y0 = Math.min(mover.y0, y - RADIUS);
    const x1 = Math.max(mover.x1, x + RADIUS), y1 = Math.max(mover.y1, y + RADIUS);
    mover.x = x;
    mover.y = y;
    this.movers.moveEntry(entry, x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS);
    this.steps++;
    const viewers = this.viewports.size;
    if (viewers === 0) return;
    if (viewers <= FEW_VIEWERS) {
      // A handful of viewers: checking each is cheaper than walking the tree per step.
      for (const v of this.#viewList) {
        if (v.x0 <= x1 && v.x1 >= x0 && v.y0 <= y1 && v.y1 >= y0) v.changed.set();
      }
      return;
    }
    const swept = this.#swept; // reused: no allocation per step
    swept.x0 = x0;
    swept.y0 = y0;
    swept.x1 = x1;
    swept.y1 = y1;
    this.viewports.forEachIn(swept, notify);
  }

  /** Adds a viewport (a viewer's window) of side `size` at (x, y). */
  addViewport(x: number, y: number, size: number): Viewport {
    const view = new Viewport(x, y, size);
    this.viewports.insert(view);
    this.#viewList.push(view);
    view.changed.set();
    return view;
  }

  /** Moves a viewport (clamped to the world). */
  moveViewport(view: Viewport, x: number, y: number): void {
    const side = view.x1 - view.x0;
    const cx = Math.round(Math.min(Math.max(x, 0), this.size - side));
    const cy = Math.round(Math.min(Math.max(y, 0), this.size - side));
    if (cx === view.x0 && cy === view.y0) return;
    this.viewports.move(view, cx, cy, cx + side, cy + side);
    view.moved = true;
    view.changed.set();
  }

  /** Removes a viewport. */
  removeViewport(view: Viewport): void {
    this.viewports.remove(view);
    this.#viewList = this.#viewList.filter((v) => v !== view);
  }
}

function notify(view: Viewport): void {
  view.changed.set();
}
