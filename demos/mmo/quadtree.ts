/**
 * A loose-free quadtree as in Shrapnel's field demo: an object lives at the deepest node
 * that fully contains its rectangle, and the root grows by doubling when an object falls
 * outside it.
 *
 * @module
 */

/** Something with a bounding rectangle (x0 <= x1, y0 <= y1). */
export interface Bounded {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

class QuadNode<T extends Bounded> {
  readonly x: number;
  readonly y: number;
  readonly size: number;
  /** The entries that live here (an array: swap-removal by each entry's index). */
  items: QuadEntry<T>[] | null = null;
  children: (QuadNode<T> | null)[] | null = null;
  count = 0; // items here and below
  parent: QuadNode<T> | null;
  constructor(x: number, y: number, size: number, parent: QuadNode<T> | null) {
    this.x = x;
    this.y = y;
    this.size = size;
    this.parent = parent;
  }
  contains(r: Bounded): boolean {
    return r.x0 >= this.x && r.y0 >= this.y && r.x1 <= this.x + this.size &&
      r.y1 <= this.y + this.size;
  }
}

/**
 * An object's place in a {@linkcode QuadTree}, returned by `insert`: `moveEntry` with it
 * finds the object's node without a lookup (the movers of the field demo move ten
 * times a second each).
 */
export class QuadEntry<T extends Bounded> {
  /** The object. */
  readonly item: T;
  /** @internal The node holding it (null once removed). */
  node: QuadNode<T> | null = null;
  /** @internal Its position in the node's items. */
  index = -1;
  /** @internal */
  constructor(item: T) {
    this.item = item;
  }
}

/**
 * A quadtree of rectangles: insert, remove, move and query in time proportional to the
 * depth and to what is found.
 *
 * @example
 * ```ts
 * import { QuadTree } from "./quadtree.ts";
 * const tree = new QuadTree<{ x0: number; y0: number; x1: number; y1: number }>(0, 0, 1024);
 * const box = { x0: 10, y0: 10, x1: 20, y1: 20 };
 * tree.insert(box);
 * console.log(tree.query({ x0: 0, y0: 0, x1: 15, y1: 15 }).length); // 1
 * ```
 */
export class QuadTree<T extends Bounded> {
  #root: QuadNode<T>;
  #where = new Map<T, QuadEntry<T>>();
  #stack: QuadNode<T>[] = [];

  readonly #minSize: number;

  /**
   * @param x0 left, @param y0 top, @param size side of the initial root square
   * @param minSize nodes of this side or less do not split (512): larger, objects that
   * move change nodes less often and a query scans more of them per node. With circles
   * of 50 moving ~8 a step, 512 gave 1.3x the steps of 64 (100k movers in 20480); the
   * field demo's movers use 2048.
   */
  constructor(x0 = 0, y0 = 0, size = 1024, minSize = 512) {
    this.#root = new QuadNode(x0, y0, size, null);
    this.#minSize = minSize;
  }

  /** Number of objects. */
  get size(): number {
    return this.#where.size;
  }

  /** The root square: [x, y, side] (grows as objects fall outside it). */
  get bounds(): [number, number, number] {
    return [this.#root.x, this.#root.y, this.#root.size];
  }

  /** Whether `item` is in the tree. */
  has(item: T): boolean {
    return this.#where.has(item);
  }

  /**
   * Adds `item` (by its current rectangle); returns its entry, for `moveEntry`.
   * @throws {Error} if it is in the tree already
   */
  insert(item: T): QuadEntry<T> {
    if (this.#where.has(item)) throw new Error("already in the tree");
    const entry = new QuadEntry(item);
    this.#where.set(item, entry);
    this.#placeFromRoot(entry);
    return entry;
  }

  #placeFromRoot(entry: QuadEntry<T>): void {
    while (!this.#root.contains(entry.item)) this.#grow(entry.item);
    this.#place(this.#root, entry);
  }

  #grow(toward: Bounded): void {
    const old = this.#root;
    const left = toward.x0 < old.x, up = toward.y0 < old.y;
    const x = left ? old.x - old.size : old.x, y = up ? old.y - old.size : old.y;
    const root = new QuadNode<T>(x, y, old.size * 2, null);
    root.children = [null, null, null, null];
    root.children[(left ? 1 : 0) + (up ? 2 : 0)] = old;
    root.count = old.count;
    old.parent = root;
    this.#root = root;
  }

  #place(start: QuadNode<T>, entry: QuadEntry<T>): void {
    const item = entry.item;
    let node = start;
    for (;;) {
      node.count++;
      if (node.size <= this.#minSize) break;
      const half = node.size / 2;
      const midX = node.x + half, midY = node.y + half;
      let quadrant: number;
      if (item.x1 <= midX) quadrant = 0;
      else if (item.x0 >= midX) quadrant = 1;
      else break;
      if (item.y1 <= midY) quadrant += 0;
      else if (item.y0 >= midY) quadrant += 2;
      else break;
      node.children ??= [null, null, null, null];
      let child = node.children[quadrant];
      if (child === null) {
        child = new QuadNode<T>(
          quadrant & 1 ? midX : node.x,
          quadrant & 2 ? midY : node.y,
          half,
          node,
        );
        node.children[quadrant] = child;
      }
      node = child;
    }
    const items = node.items ??= [];
    entry.index = items.length;
    entry.node = node;
    items.push(entry);
  }

  /** Takes `entry` out of its node's items (counts are the caller's to fix). */
  #unlink(entry: QuadEntry<T>): void {
    const items = entry.node!.items!;
    const last = items.pop()!;
    if (last !== entry) {
      items[entry.index] = last;
      last.index = entry.index;
    }
    entry.node = null;
    entry.index = -1;
  }

  /** Removes `item`; false if it was not there. */
  remove(item: T): boolean {
    const entry = this.#where.get(item);
    if (entry === undefined) return false;
    const node = entry.node;
    this.#unlink(entry);
    this.#where.delete(item);
    for (let n: QuadNode<T> | null = node; n !== null; n = n.parent) n.count--;
    return true;
  }

  /**
   * Moves `item` to the rectangle (x0, y0)-(x1, y1); inserts it if it is not in the
   * tree. Cheap when it stays in its node.
   */
  move(item: T, x0: number, y0: number, x1: number, y1: number): void {
    const entry = this.#where.get(item);
    if (entry === undefined) {
      item.x0 = x0;
      item.y0 = y0;
      item.x1 = x1;
      item.y1 = y1;
      this.insert(item);
      return;
    }
    this.moveEntry(entry, x0, y0, x1, y1);
  }

  /**
   * Moves the object of `entry` (from `insert`) to the rectangle (x0, y0)-(x1, y1): as
   * `move`, without looking the object up.
   * @throws {Error} if the entry's object was removed
   */
  moveEntry(entry: QuadEntry<T>, x0: number, y0: number, x1: number, y1: number): void {
    const node = entry.node;
    if (node === null) throw new Error("the object was removed from the tree");
    const item = entry.item;
    item.x0 = x0;
    item.y0 = y0;
    item.x1 = x1;
    item.y1 = y1;
    if (node.contains(item) && !this.#fitsChild(node, item)) return;
    // Climb to the nearest ancestor that holds it, then descend from there.
    this.#unlink(entry);
    let up: QuadNode<T> | null = node;
    while (up !== null && !up.contains(item)) {
      up.count--;
      up = up.parent;
    }
    if (up === null) {
      // It left the root: the counts of the whole chain were taken back.
      this.#placeFromRoot(entry);
      return;
    }
    up.count--; // #place counts it again from here
    this.#place(up, entry);
  }

  #fitsChild(node: QuadNode<T>, item: T): boolean {
    if (node.size <= this.#minSize) return false;
    const half = node.size / 2;
    const midX = node.x + half, midY = node.y + half;
    const horizontal = item.x1 <= midX || item.x0 >= midX;
    const vertical = item.y1 <= midY || item.y0 >= midY;
    return horizontal && vertical;
  }

  /** Calls `fn` for every object whose rectangle intersects `r` (edges touching count). */
  forEachIn(r: Bounded, fn: (item: T) => void): void {
    // One stack per tree, reused: a query per step of every mover must not allocate.
    // (A query from inside `fn` gets a stack of its own.)
    const stack = this.#stack.length === 0 ? this.#stack : [];
    stack.push(this.#root);
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.count === 0) continue;
      if (
        r.x1 < node.x || r.y1 < node.y || r.x0 > node.x + node.size || r.y0 > node.y + node.size
      ) continue;
      const items = node.items;
      if (items !== null) {
        for (let i = 0; i < items.length; i++) {
          const item = items[i].item;
          if (item.x0 <= r.x1 && item.x1 >= r.x0 && item.y0 <= r.y1 && item.y1 >= r.y0) fn(item);
        }
      }
      if (node.children !== null) {
        for (const child of node.children) if (child !== null) stack.push(child);
      }
    }
  }

  /** The objects intersecting `r`. */
  query(r: Bounded): T[] {
    const out: T[] = [];
    this.forEachIn(r, (item) => out.push(item));
    return out;
  }

  /** Every object. */
  [Symbol.iterator](): IterableIterator<T> {
    return this.#where.keys();
  }
}
