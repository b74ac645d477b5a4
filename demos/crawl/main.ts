/**
 * `deno task demo:crawl URL... [--workers=8] [--delay=0.25] [--max=500] [--match=REGEX]
 * [--nameserver=IP]`: crawls from the URLs with a live progress line, then prints a
 * summary. Links are followed when they stay on a start URL's origin and, with `--match`,
 * when they match the regular expression. Host names go through our DNS resolver (stub
 * mode, /etc/resolv.conf's servers or `--nameserver`).
 *
 * @module
 */

import { main } from "../../core/main.ts";
import { setBackend } from "../../net/backend.ts";
import { DnsResolver } from "../../proto/dns/resolver.ts";
import { crawl, type CrawlProgress } from "./crawler.ts";

function option(name: string): string | undefined {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** The progress line: counts and rate, rewritten in place on a terminal. */
export function progressLine(p: CrawlProgress): string {
  const rate = p.elapsed > 0 ? p.fetched / p.elapsed : 0;
  return `${p.fetched} fetched, ${p.queued} queued, ${p.busy} busy, ${p.errors} errors, ` +
    `${p.disallowed} disallowed by robots.txt, ${rate.toFixed(1)} pages/s, ${
      p.elapsed.toFixed(1)
    } s`;
}

if (import.meta.main) {
  const start = Deno.args.filter((a) => !a.startsWith("--"));
  if (start.length === 0) {
    console.error(
      "usage: deno task demo:crawl URL... [--workers=8] [--delay=0.25] [--max=500] " +
        "[--match=REGEX] [--nameserver=IP]",
    );
    Deno.exit(2);
  }
  const match = option("match") === undefined ? null : new RegExp(option("match")!);
  const origins = new Set(start.map((s) => new URL(s).origin));
  const nameserver = option("nameserver");
  const terminal = Deno.stderr.isTerminal();
  // A crawl waits on the network and on its politeness delays, not on the socket layer:
  // the portable backend serves it without FFI permissions.
  setBackend("deno");
  const encoder = new TextEncoder();
  await main(async () => {
    const report = await crawl({
      start,
      workers: Number(option("workers") ?? 8),
      delay: Number(option("delay") ?? 0.25),
      maxPages: Number(option("max") ?? 500),
      resolver: new DnsResolver({
        mode: "stub",
        nameservers: nameserver === undefined ? undefined : [nameserver],
      }),
      follow: (url) => origins.has(url.origin) && (match === null || match.test(url.href)),
      onProgress: (p) => {
        if (terminal) Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${progressLine(p)}`));
      },
    });
    if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
    const byStatus = new Map<string, number>();
    for (const page of report.pages) {
      const key = page.status === null ? "failed" : String(page.status);
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    console.log(progressLine(report.progress));
    console.log(
      `by status: ${
        [...byStatus].map(([status, n]) => `${status}: ${n}`).join(", ") || "nothing fetched"
      }`,
    );
    if (report.pages.length === 0 && report.disallowed.length > 0) {
      console.log("(robots.txt forbids it, or could not be fetched: then nothing may be)");
    }
    for (const page of report.pages.filter((p) => p.error !== undefined).slice(0, 10)) {
      console.log(`  ${page.url}: ${page.error}`);
    }
  });
}
