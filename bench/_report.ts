/** Shared output helpers for benchmarks: aligned tables and ratios. */

/** One measured row: a label and named figures. */
export interface Row {
  name: string;
  [figure: string]: string | number;
}

/** Prints rows as an aligned table under a heading. */
export function table(title: string, rows: Row[]): void {
  console.log(`\n## ${title}`);
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => typeof v === "number" ? format(v) : String(v ?? "");
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(widths[i])).join("  "));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padEnd(widths[i])).join("  "));
}

function format(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** Best (minimum) of `runs` timings of `fn`, in milliseconds. */
export async function bestOf(runs: number, fn: () => Promise<void> | void): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Forces a full GC when V8 was started with --expose-gc. */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Prints a progress line on stderr while a benchmark runs (the tables go to stdout). */
export function progress(line: string): void {
  console.error(`.. ${line}`);
}

/** Prints a finished row as a progress line (stderr). */
export function progressRow(row: Row): void {
  const { name, ...figures } = row;
  const cell = (v: unknown) => typeof v === "number" ? format(v) : String(v);
  progress(`${name}: ${Object.entries(figures).map(([k, v]) => `${k} ${cell(v)}`).join(", ")}`);
}

/** An array of rows that prints each row as a progress line when it is pushed. */
export function progressRows(): Row[] {
  const rows: Row[] = [];
  rows.push = (...items: Row[]) => {
    for (const row of items) progressRow(row);
    return Array.prototype.push.apply(rows, items);
  };
  return rows;
}
