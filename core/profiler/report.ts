/**
 * Profile reports: a self-contained HTML page (sortable tables, a view per thread, a flame
 * graph), JSON, and the comparison of two profiles.
 *
 * @module
 */

import type { CallNode, Profile } from "./profiler.ts";

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const ms = (v: number) => v.toFixed(v >= 100 ? 0 : v >= 1 ? 1 : 3);

function table(id: string, head: string[], rows: (string | number)[][]): string {
  const th = head.map((h, i) => `<th data-col="${i}">${esc(h)}</th>`).join("");
  const tr = rows.map((r) =>
    `<tr>${
      r.map((c) =>
        typeof c === "number" ? `<td class="n" data-v="${c}">${ms(c)}</td>` : `<td>${esc(c)}</td>`
      )
        .join("")
    }</tr>`
  ).join("\n");
  return `<table id="${id}" class="sortable"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

/** The flame graph as SVG: width is time, depth goes down; tiny frames are left out. */
export function flameGraph(tree: CallNode, width = 1200, rowHeight = 17): string {
  const rects: string[] = [];
  const totalMs = tree.ms || 1;
  let maxDepth = 0;
  const minWidth = 0.5;
  const visit = (node: CallNode, x: number, depth: number) => {
    const w = (node.ms / totalMs) * width;
    if (w < minWidth) return;
    maxDepth = Math.max(maxDepth, depth);
    const hue = 20 + (hash(node.key) % 40);
    const label = w > 40 ? esc(node.key.split(" ")[0]).slice(0, Math.floor(w / 7)) : "";
    rects.push(
      `<g><title>${esc(node.key)}: ${ms(node.ms)} ms (${
        (node.ms / totalMs * 100).toFixed(1)
      }%)</title>` +
        `<rect x="${x.toFixed(1)}" y="${depth * rowHeight}" width="${w.toFixed(1)}" height="${
          rowHeight - 1
        }" fill="hsl(${hue},80%,60%)"/>` +
        (label
          ? `<text x="${(x + 3).toFixed(1)}" y="${depth * rowHeight + 12}">${label}</text>`
          : "") +
        "</g>",
    );
    let cx = x;
    for (const child of node.children) {
      visit(child, cx, depth + 1);
      cx += (child.ms / totalMs) * width;
    }
  };
  visit(tree, 0, 0);
  const height = (maxDepth + 1) * rowHeight;
  return `<svg class="flame" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-size="11" font-family="monospace">${
    rects.join("")
  }</svg>`;
}

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd}
th{cursor:pointer;background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
details{margin:.5em 0}svg.flame rect:hover{stroke:#000}h2{margin-top:1.5em}`;

const SORT_SCRIPT = `for (const t of document.querySelectorAll("table.sortable")) {
  t.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
    const body = t.tBodies[0], rows = [...body.rows];
    const down = th.dataset.dir !== "down";
    th.dataset.dir = down ? "down" : "up";
    const value = (r) => { const c = r.cells[col]; return c.dataset.v !== undefined ? Number(c.dataset.v) : c.textContent; };
    rows.sort((a, b) => { const x = value(a), y = value(b); const r = x < y ? -1 : x > y ? 1 : 0; return down ? -r : r; });
    for (const r of rows) body.appendChild(r);
  }));
}`;

/**
 * The profile as one self-contained HTML page.
 *
 * @example
 * ```ts ignore
 * await Deno.writeTextFile("profile.html", renderHtml(profile));
 * ```
 */
export function renderHtml(profile: Profile, title = "shrapnel profile"): string {
  const threads = table(
    "threads",
    ["id", "thread", "run ms", "wait ms", "switches", "waiting on (ms)"],
    profile.threads.map((t) => [
      String(t.id),
      t.name,
      t.runMs,
      t.waitMs,
      String(t.switches),
      Object.entries(t.waits).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${ms(v)}`).join(
        ", ",
      ),
    ]),
  );
  const functions = table(
    "functions",
    ["function", "where", "self ms", "total ms", "calls"],
    profile.functions.slice(0, 300).map((f) => [
      f.name,
      f.url ? `${f.url}:${f.line}` : "",
      f.selfMs,
      f.totalMs,
      f.calls === null ? "" : String(f.calls),
    ]),
  );
  const perThread = profile.threads.filter((t) => t.functions.length > 0).slice(0, 30).map((t) =>
    `<details><summary>${esc(`${t.id} ${t.name}`)}: ${ms(t.runMs)} ms running, ${
      ms(t.waitMs)
    } ms waiting</summary>` +
    table(`thread-${t.id}`, ["function", "self ms"], t.functions.map(([k, v]) => [k, v])) +
    "</details>"
  ).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${STYLE}</style></head><body>
<h1>${esc(title)}</h1>
<p>${ms(profile.durationMs)} ms profiled; ${profile.samples} samples every ${profile.intervalUs} µs;
${profile.threads.length} threads. Click a column to sort.</p>
<h2>Threads</h2>${threads}
<h2>Functions</h2>${functions}
<h2>By thread</h2>${perThread}
<h2>Flame graph</h2>${flameGraph(profile.tree)}
<script type="application/json" id="profile">${
    profileJson(profile).replace(/</g, "\\u003c")
  }</script>
<script>${SORT_SCRIPT}</script>
</body></html>
`;
}

/** The profile as JSON. */
export function profileJson(profile: Profile): string {
  return JSON.stringify(profile);
}

/** One row of a comparison. */
export interface ComparisonRow {
  /** Function key or thread name. */
  key: string;
  /** Milliseconds in the first profile (self time for functions, run time for threads). */
  before: number;
  /** Milliseconds in the second. */
  after: number;
  /** after - before. */
  delta: number;
}

/** Two profiles side by side. */
export interface Comparison {
  /** Functions by self time, largest change first. */
  functions: ComparisonRow[];
  /** Threads (by name) by run time, largest change first. */
  threads: ComparisonRow[];
}

function rows(a: Map<string, number>, b: Map<string, number>): ComparisonRow[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].map((key) => {
    const before = a.get(key) ?? 0, after = b.get(key) ?? 0;
    return { key, before, after, delta: after - before };
  }).sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta));
}

/**
 * Compares two profiles (of the same program, before and after a change).
 *
 * @example
 * ```ts ignore
 * const diff = compareProfiles(before, after);
 * console.log(diff.functions.slice(0, 5));
 * ```
 */
export function compareProfiles(before: Profile, after: Profile): Comparison {
  const fn = (p: Profile) => new Map(p.functions.map((f) => [f.key, f.selfMs]));
  const th = (p: Profile) => {
    const m = new Map<string, number>();
    for (const t of p.threads) m.set(t.name, (m.get(t.name) ?? 0) + t.runMs);
    return m;
  };
  return { functions: rows(fn(before), fn(after)), threads: rows(th(before), th(after)) };
}

/** A comparison as a self-contained HTML page. */
export function renderComparisonHtml(comparison: Comparison, title = "profile comparison"): string {
  const t = (id: string, list: ComparisonRow[]) =>
    table(
      id,
      ["", "before ms", "after ms", "change ms"],
      list.slice(0, 300).map((r) => [r.key, r.before, r.after, r.delta]),
    );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${STYLE}</style></head><body><h1>${esc(title)}</h1>
<h2>Threads</h2>${t("threads", comparison.threads)}
<h2>Functions</h2>${t("functions", comparison.functions)}
<script>${SORT_SCRIPT}</script></body></html>
`;
}
