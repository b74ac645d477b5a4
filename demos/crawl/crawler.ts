/**
 * A web crawler on shrapnel threads, after the original's demo: a pool of worker threads
 * takes URLs from a Fifo, host names go through our DNS resolver, pages come through our
 * HttpClient; a filter decides which links to follow, robots.txt is honoured, and each
 * host gets a politeness delay between requests.
 *
 * @module
 */

import { Interrupted, Shutdown, TimeoutError } from "../../core/errors.ts";
import { Fifo } from "../../core/sync/fifo.ts";
import { Event } from "../../core/sync/event.ts";
import { sleep } from "../../core/sleep.ts";
import { spawn } from "../../core/thread.ts";
import { ThreadGroup } from "../../core/thread_group.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { connectTo } from "../../net/constructors.ts";
import { connectTls } from "../../net/tls.ts";
import { HttpClient } from "../../proto/http/client.ts";
import {
  ALLOW_ALL,
  DISALLOW_ALL,
  MAX_ROBOTS_BYTES,
  parseRobots,
  type RobotsRules,
} from "./robots.ts";

/** Turns a host name into an address (a `DnsResolver` does). */
export interface HostResolver {
  /** One IPv4 or IPv6 address of `name`. Interruption point. */
  lookup(name: string): Promise<string>;
}

/** Options of {@linkcode crawl}. */
export interface CrawlOptions {
  /** Where to start. */
  start: string[];
  /**
   * Whether to follow a link found on page `from` (default: links to the origins of the
   * start URLs). Called for each new URL once.
   */
  follow?: (url: URL, from: URL) => boolean;
  /** Worker threads (8). */
  workers?: number;
  /** Seconds between two requests to one host (0.25); a larger Crawl-delay wins. */
  delay?: number;
  /** Most URLs fetched (1000); links beyond are counted, not followed. */
  maxPages?: number;
  /** Largest page read (1 MiB); a larger one is an error for that page. */
  maxPageBytes?: number;
  /** Seconds one page may take, connecting included (10). */
  timeout?: number;
  /** The User-agent sent and looked for in robots.txt ("shrapnel-crawl/1"). */
  agent?: string;
  /** Resolves host names (e.g. a `DnsResolver`); without one, Deno's resolver is used. */
  resolver?: HostResolver;
  /** Called after each page. */
  onPage?: (page: CrawledPage) => void;
  /** Called every `progressInterval` seconds (0.2) while crawling, and once at the end. */
  onProgress?: (progress: CrawlProgress) => void;
  /** Seconds between `onProgress` calls (0.2). */
  progressInterval?: number;
}

/** One URL visited. */
export interface CrawledPage {
  /** The URL. */
  url: string;
  /** The status, or null when the fetch failed. */
  status: number | null;
  /** Why the fetch failed. */
  error?: string;
  /** Body bytes read. */
  bytes: number;
  /** Links found on it (HTML pages only). */
  links: number;
  /** The worker that fetched it. */
  worker: number;
}

/** Where a crawl is. */
export interface CrawlProgress {
  /** Pages fetched (successfully or not). */
  fetched: number;
  /** URLs waiting for a worker. */
  queued: number;
  /** Workers fetching right now. */
  busy: number;
  /** Fetches that failed. */
  errors: number;
  /** URLs not fetched because robots.txt says no. */
  disallowed: number;
  /** Links not followed because `maxPages` was reached. */
  dropped: number;
  /** Seconds since the start. */
  elapsed: number;
}

/** What a crawl found. */
export interface CrawlReport {
  /** Every page fetched, in the order fetched. */
  pages: CrawledPage[];
  /** URLs robots.txt kept us from. */
  disallowed: string[];
  /** The final progress. */
  progress: CrawlProgress;
}

const HREF = /<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;

/** The absolute http(s) URLs `html` links to, without fragments. */
export function extractLinks(html: string, base: URL): URL[] {
  const links: URL[] = [];
  for (const m of html.matchAll(HREF)) {
    const href = (m[1] ?? m[2] ?? m[3]).replaceAll("&amp;", "&");
    let url: URL;
    try {
      url = new URL(href, base);
    } catch {
      continue; // not a URL: nothing to follow
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    url.hash = "";
    links.push(url);
  }
  return links;
}

/** Whether `e` stops the crawl (a shutdown or an interrupt from outside), rather than a page. */
function stopping(e: unknown): boolean {
  return e instanceof Interrupted && !(e instanceof TimeoutError);
}

function isAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Crawls from `options.start` until no followed link is left (or `maxPages`). Must run
 * in a thread.
 *
 * Interruption point: the workers are shut down, waited for, and the interruption thrown.
 * A worker that fails (a bug: a page's own errors are in its report) stops the others;
 * `crawl()` then throws a `ThreadGroupError` carrying its error.
 *
 * @example
 * ```ts ignore
 * const report = await crawl({ start: ["http://127.0.0.1:8080/"], workers: 4, delay: 0.1 });
 * console.log(report.pages.length);
 * ```
 */
export async function crawl(options: CrawlOptions): Promise<CrawlReport> {
  const workers = options.workers ?? 8;
  const delayMs = (options.delay ?? 0.25) * 1000;
  const maxPages = options.maxPages ?? 1000;
  const timeout = options.timeout ?? 10;
  const agent = options.agent ?? "shrapnel-crawl/1";
  const resolver = options.resolver;
  const origins = new Set(options.start.map((s) => new URL(s).origin));
  const follow = options.follow ?? ((url: URL) => origins.has(url.origin));
  const client = new HttpClient({
    maxBodyBytes: options.maxPageBytes ?? 1 << 20,
    connect: async (host, port, secure) => {
      if (secure) return (await connectTls(`${bracket(host)}:${port}`)).socket;
      const address = resolver && !isAddress(host) ? await resolver.lookup(host) : host;
      return connectTo(`${bracket(address)}:${port}`);
    },
  });
  const headers = { "user-agent": agent };

  // URLs wait in a queue per host; a host is in `ready` (once) while it has URLs, so that
  // a worker waiting out one host's delay never holds up another host's pages.
  const hosts = new Map<string, { urls: string[]; inReady: boolean }>();
  // (inReady: the host is in `ready`, or a worker holds its turn and will put it back.)
  const ready = new Fifo<string | null>();
  let queued = 0;
  const seen = new Set<string>();
  const pages: CrawledPage[] = [];
  const disallowed: string[] = [];
  const robots = new Map<string, { ready: Event; rules: RobotsRules }>();
  const nextSlot = new Map<string, number>(); // host -> when its next request may go
  const started = performance.now();
  let outstanding = 0, busy = 0, errors = 0, dropped = 0;
  const done = new Event();

  const progress = (): CrawlProgress => ({
    fetched: pages.length,
    queued,
    busy,
    errors,
    disallowed: disallowed.length,
    dropped,
    elapsed: (performance.now() - started) / 1000,
  });

  function enqueue(url: string): void {
    if (seen.has(url)) return;
    if (seen.size >= maxPages) {
      dropped++;
      return;
    }
    seen.add(url);
    outstanding++;
    queued++;
    const key = new URL(url).host;
    let host = hosts.get(key);
    if (host === undefined) hosts.set(key, host = { urls: [], inReady: false });
    host.urls.push(url);
    if (!host.inReady) {
      host.inReady = true;
      ready.push(key);
    }
  }

  /** The robots.txt rules of `url`'s origin: fetched by the first worker to need them. */
  async function rulesFor(url: URL): Promise<RobotsRules> {
    let entry = robots.get(url.origin);
    if (entry !== undefined) {
      await entry.ready.wait();
      return entry.rules;
    }
    entry = { ready: new Event(), rules: DISALLOW_ALL };
    robots.set(url.origin, entry);
    try {
      entry.rules = await fetchRobots(url);
    } finally {
      entry.ready.set();
    }
    return entry.rules;
  }

  async function fetchRobots(url: URL): Promise<RobotsRules> {
    let location = new URL("/robots.txt", url);
    await politeness(location.host, null);
    try {
      for (let hop = 0; hop < 5; hop++) {
        const response = await withTimeout(
          timeout,
          () => client.request(location.href, { headers }),
        );
        if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
          await response.release();
          location = new URL(response.headers.get("location")!, location);
          continue;
        }
        if (response.status >= 500) {
          await response.release();
          return DISALLOW_ALL; // RFC 9309: unreachable means "assume everything is off limits"
        }
        if (response.status >= 400) {
          await response.release();
          return ALLOW_ALL;
        }
        const bytes = await withTimeout(timeout, () => response.bytes());
        return parseRobots(
          new TextDecoder().decode(bytes.subarray(0, MAX_ROBOTS_BYTES)),
          agent,
        );
      }
      return ALLOW_ALL; // too many redirects: RFC 9309 treats it as unavailable (4xx)
    } catch (e) {
      if (stopping(e)) throw e;
      return DISALLOW_ALL; // unreachable (refused, reset, timed out...)
    }
  }

  /** Waits for `host`'s next slot and takes it. */
  async function politeness(host: string, rules: RobotsRules | null): Promise<void> {
    const gap = Math.max(delayMs, (rules?.crawlDelay ?? 0) * 1000);
    const now = performance.now();
    const at = Math.max(now, nextSlot.get(host) ?? 0);
    nextSlot.set(host, at + gap);
    if (at > now) await sleep((at - now) / 1000);
  }

  /** Fetches `href`; `slotTaken` is called once its host's turn is taken (or not needed). */
  async function visit(href: string, worker: number, slotTaken: () => void): Promise<void> {
    const url = new URL(href);
    let rules: RobotsRules;
    try {
      rules = await rulesFor(url);
      if (!rules.allows(`${url.pathname}${url.search}`)) {
        disallowed.push(href);
        return;
      }
      await politeness(url.host, rules);
    } finally {
      slotTaken();
    }
    busy++;
    const page: CrawledPage = { url: href, status: null, bytes: 0, links: 0, worker };
    try {
      await withTimeout(timeout, async () => {
        const response = await client.request(href, { headers });
        page.status = response.status;
        const type = response.headers.get("content-type") ?? "";
        if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
          await response.release();
          const to = new URL(response.headers.get("location")!, url);
          to.hash = "";
          page.links = 1;
          if (follow(to, url)) enqueue(to.href);
          return;
        }
        if (!response.ok || !/^text\/html\b/i.test(type)) {
          await response.release();
          return;
        }
        const body = await response.bytes();
        page.bytes = body.length;
        const links = extractLinks(new TextDecoder().decode(body), url);
        page.links = links.length;
        for (const link of links) if (follow(link, url)) enqueue(link.href);
      });
    } catch (e) {
      if (stopping(e)) throw e;
      page.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      errors++;
    } finally {
      busy--;
    }
    pages.push(page);
    options.onPage?.(page);
  }

  /** Waits until every page is visited, then sends the workers home. */
  async function finish(): Promise<void> {
    if (outstanding > 0) await done.wait();
    for (let i = 0; i < workers; i++) ready.push(null);
  }

  async function work(worker: number): Promise<void> {
    for (;;) {
      const key = await ready.pop();
      if (key === null) return;
      const host = hosts.get(key)!;
      const href = host.urls.shift()!;
      queued--;
      // Once this worker has the host's turn, the host goes back in line behind the others
      // if it has more: so at most one worker waits out a host's delay at a time.
      const slotTaken = () => {
        if (host.urls.length > 0) ready.push(key);
        else host.inReady = false;
      };
      try {
        await visit(href, worker, slotTaken);
      } finally {
        if (--outstanding === 0) done.set();
      }
    }
  }

  for (const s of options.start) enqueue(new URL(s).href);
  const reporter = options.onProgress === undefined ? null : spawn(
    { name: "crawl progress" },
    async () => {
      for (;;) {
        await sleep(options.progressInterval ?? 0.2);
        options.onProgress!(progress());
      }
    },
  );
  let crawled: { ok: true } | { ok: false; error: unknown } = { ok: true };
  try {
    // The workers are a group: one failing stops the others, the crawl interrupted
    // stops them all, and either way they are gone before crawl() returns or throws.
    await new ThreadGroup({ name: "crawl workers" }).run((pool) => {
      for (let i = 0; i < workers; i++) pool.spawn({ name: `crawl worker ${i}` }, work, i);
      return finish();
    });
  } catch (error) {
    crawled = { ok: false, error };
  }
  let reporterFailure: { error: unknown } | null = null;
  if (reporter !== null) {
    reporter.shutdown();
    try {
      await reporter.join();
    } catch (e) {
      if (!(e instanceof Shutdown)) reporterFailure = { error: e }; // onProgress failed
    }
  }
  client.close();
  // The crawl's own failure first; the progress reporter's, if the crawl went well.
  if (!crawled.ok) throw crawled.error;
  if (reporterFailure !== null) throw reporterFailure.error;
  const final = progress();
  options.onProgress?.(final);
  return { pages, disallowed, progress: final };
}
