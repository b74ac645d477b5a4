/**
 * The crawler against a 300-page site served by our HttpServer (found by name through
 * BIND and our resolver) and by Python's http.server, and robots.txt's rules.
 */
import assert from "node:assert/strict";
import { installed, withServer } from "../../_servers.ts";
import {
  allThreads,
  HttpServer,
  sleep,
  staticFilesHandler,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";
import { DnsResolver } from "../../../proto/dns/resolver.ts";
import { loadDnsCodec } from "../../../proto/dns/packet.ts";
import { crawl, type CrawlProgress, extractLinks } from "../../../demos/crawl/crawler.ts";
import { progressLine } from "../../../demos/crawl/main.ts";
import { parseRobots } from "../../../demos/crawl/robots.ts";
import { pageLinks, type Process, startPythonServer, startZone, writeSite } from "./_sites.ts";

const N = 300;

// Loaded here, outside the tests' threads (a lazy npm import inside a test's thread leaks
// its async context into the next test in Deno's runner).
await loadDnsCodec();

interface Sites {
  /** Our server's files (links to the Python site's origin). */
  ours: string;
  /** The Python server's files. */
  theirs: string;
  python: Process;
  named: Process;
  stop(): Promise<void>;
  kill(): void;
}

const sites = await withServer<Sites>(
  "named and python3",
  installed("/usr/sbin/named") && installed("/usr/bin/python3"),
  "apt-get install bind9 python3",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "shrapnel-crawl-" });
    const theirs = `${root}/theirs`, ours = `${root}/ours`;
    await writeSite(theirs, N);
    const python = await startPythonServer(theirs);
    await writeSite(ours, N, `http://127.0.0.1:${python.port}`);
    const named = await startZone("crawl.test", ["site IN A 127.0.0.1", "www IN CNAME site"]);
    return {
      ours,
      theirs,
      python,
      named,
      async stop() {
        await python.stop();
        await named.stop();
        await Deno.remove(root, { recursive: true });
      },
      kill() {},
    };
  },
);

/** Every page reachable from the index through links `follow` accepts. */
function reachable(follow: (path: string) => boolean): Set<string> {
  const found = new Set(["/", "/data.txt", "/pages/p0.html"].filter(follow));
  const todo = found.has("/pages/p0.html") ? [0] : [];
  while (todo.length > 0) {
    const i = todo.pop()!;
    for (const link of pageLinks(i, N)) {
      if (!follow(link) || found.has(link)) continue;
      found.add(link);
      todo.push(Number(link.match(/\d+/)![0]));
    }
  }
  return found;
}

sites.test(
  "300 pages on our server, by name through our resolver: each allowed page once, robots.txt honoured, a delay per host",
  async (s) => {
    const requests: { path: string; at: number }[] = [];
    const server = new HttpServer();
    server.push({
      match(request) {
        requests.push({ path: request.path, at: performance.now() });
        return false;
      },
      handle() {},
    });
    server.push(staticFilesHandler(s.ours));
    server.listen("127.0.0.1:0");
    const port = (server.address as { port: number }).port;
    const progress: CrawlProgress[] = [];
    const delay = 0.004;
    try {
      const report = await crawl({
        start: [`http://www.crawl.test:${port}/`],
        workers: 8,
        delay,
        resolver: new DnsResolver({ mode: "stub", nameservers: [`127.0.0.1:${s.named.port}`] }),
        onProgress: (p) => progress.push(p),
        progressInterval: 0.05,
      });
      const origin = `http://www.crawl.test:${port}`;
      const expected = reachable(() => true);
      assert.equal(expected.size, N + 2);
      assert.deepEqual(
        new Set(report.pages.map((p) => p.url.slice(origin.length))),
        new Set([...expected].map((p) => p === "/" ? "/" : p)),
      );
      assert.ok(report.pages.every((p) => p.status === 200 && p.error === undefined));
      assert.ok(new Set(report.pages.map((p) => p.worker)).size > 1, "several workers fetched");
      // robots.txt: asked once, its Disallow kept us out of /private/ ...
      assert.equal(requests.filter((r) => r.path === "/robots.txt").length, 1);
      assert.deepEqual(requests.filter((r) => r.path.startsWith("/private/")), []);
      assert.deepEqual(
        new Set(report.disallowed.map((u) => u.slice(origin.length))),
        new Set([0, 1, 2, 3, 4].map((i) => `/private/s${i}.html`)),
      );
      // ... each page was asked for once, the text file's "link" not followed, the link to
      // the other origin not followed by default ...
      const pages = requests.filter((r) => r.path !== "/robots.txt").map((r) => r.path);
      assert.equal(pages.length, new Set(pages).size);
      assert.ok(!pages.includes("/pages/never.html"));
      assert.deepEqual(s.python.log.filter((l) => l.includes("/pages/")), []);
      // ... and the requests to the host were spaced by the politeness delay.
      const span = (requests.at(-1)!.at - requests[0].at) / 1000;
      assert.ok(span >= (requests.length - 1) * delay * 0.9, `${requests.length} in ${span} s`);
      // The progress line was fed while crawling, and its last state is the report's.
      assert.ok(progress.length >= 2);
      assert.equal(progress.at(-1)!.fetched, N + 2);
      assert.equal(report.progress.disallowed, 5);
      assert.match(
        progressLine(report.progress),
        /^302 fetched, 0 queued, 0 busy, 0 errors, 5 dis/,
      );
    } finally {
      await server.close();
    }
  },
);

sites.test(
  "Python's http.server: the filter decides what is followed; robots.txt honoured there too",
  async (s) => {
    const origin = `http://127.0.0.1:${s.python.port}`;
    // The index, p0, and pages whose number is not a multiple of 3.
    const chosen = (path: string) => {
      const n = Number(path.match(/^\/pages\/p(\d+)\.html$/)?.[1] ?? NaN);
      return path === "/" || n === 0 || n % 3 !== 0;
    };
    const report = await crawl({
      start: [`${origin}/`],
      workers: 4,
      delay: 0.001,
      follow: (url) =>
        url.origin === origin && (chosen(url.pathname) || url.pathname.startsWith("/private/")),
    });
    assert.ok(report.disallowed.length > 0);
    assert.ok(report.disallowed.every((u) => u.startsWith(`${origin}/private/`)));
    const expected = reachable(chosen);
    assert.deepEqual(new Set(report.pages.map((p) => p.url.slice(origin.length))), expected);
    assert.ok(expected.size > 10 && expected.size < N, `${expected.size} pages`);
    const asked = s.python.log.map((l) => l.match(/"GET (\S+) HTTP/)?.[1]).filter((p) =>
      p !== undefined
    );
    assert.equal(asked.filter((p) => p === "/robots.txt").length, 1);
    assert.ok(asked.every((p) => p === "/robots.txt" || chosen(p!)), "only followed links asked");
  },
);

sites.test("deno task demo:crawl: a summary by status after the crawl", async (s) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--quiet",
      "demo:crawl",
      `http://127.0.0.1:${s.python.port}/`,
      "--workers=3",
      "--delay=0",
      "--max=50",
      "--match=/(pages/p1?[0-9]\\.html)?$",
    ],
    cwd: new URL("../../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.match(text, /^\d+ fetched, 0 queued, 0 busy, 0 errors/m);
  assert.match(text, /^by status: 200: \d+$/m);
});

sites.test("a site whose robots.txt fails (503) is not crawled at all", async () => {
  const server = new HttpServer();
  const asked: string[] = [];
  server.route("GET", "/robots.txt", (request) => request.respond(503, "down\n"));
  server.push({
    match: (request) => {
      asked.push(request.path);
      return true;
    },
    handle: (request) =>
      request.respond(200, `<a href="/x">x</a>`, { "content-type": "text/html" }),
  });
  server.listen("127.0.0.1:0");
  try {
    const report = await crawl({ start: [`${server.url}/`], delay: 0 });
    assert.deepEqual(report.pages, []);
    assert.equal(report.disallowed.length, 1);
    assert.deepEqual(asked, []);
  } finally {
    await server.close();
  }
});

sites.finish();

Deno.test("robots.txt: groups by agent, longest match, wildcards, end anchors, Crawl-delay", () => {
  const text = [
    "User-agent: *",
    "Disallow: /",
    "",
    "User-agent: Shrapnel-Crawl",
    "User-agent: other",
    "Disallow: /private",
    "Allow: /private/public",
    "Disallow: /*.pdf$",
    "Disallow: /tmp*/cache",
    "Crawl-delay: 2",
  ].join("\r\n");
  const mine = parseRobots(text, "shrapnel-crawl/1");
  assert.equal(mine.allows("/"), true);
  assert.equal(mine.allows("/private"), false);
  assert.equal(mine.allows("/private/x"), false);
  assert.equal(mine.allows("/private/public/x"), true);
  assert.equal(mine.allows("/docs/a.pdf"), false);
  assert.equal(mine.allows("/docs/a.pdf?x=1"), true);
  assert.equal(mine.allows("/tmp-1/cache/x"), false);
  assert.equal(mine.crawlDelay, 2);
  const other = parseRobots(text, "somebot");
  assert.equal(other.allows("/anything"), false);
  assert.equal(other.crawlDelay, null);
  assert.equal(parseRobots("", "x").allows("/a"), true);
  assert.equal(parseRobots("User-agent: *\nDisallow:\n", "x").allows("/a"), true);
  // Garbage is ignored, never thrown.
  assert.equal(parseRobots("\u0000\u0001: ::\nDisallow /nocolon\n[[[", "x").allows("/a"), true);
  assert.equal(parseRobots("User-agent: *\nDisallow: /a(b[c\n", "x").allows("/a(b[c/d"), false);
});

Deno.test("links: href forms, relative URLs, fragments dropped, only http(s)", () => {
  const base = new URL("http://h/dir/page.html");
  const links = extractLinks(
    `<a href="x.html#f">1</a><A HREF='/y?a=1&amp;b=2'>2</A><a class=k href=z>3</a>
     <a href="mailto:m@h">4</a><a href="https://o/p">5</a><a name=n>6</a><a href="http://[">7</a>`,
    base,
  ).map(String);
  assert.deepEqual(links, [
    "http://h/dir/x.html",
    "http://h/y?a=1&b=2",
    "http://h/dir/z",
    "https://o/p",
  ]);
});

Deno.test({
  name: "hostile pages: one that never answers times out, one too large is refused; the crawl ends",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const server = new HttpServer();
      server.route("GET", "/robots.txt", (request) => request.respond(404, ""));
      server.route("GET", "/", (request) =>
        request.respond(200, `<a href="/stall">s</a><a href="/huge">h</a><a href="/ok">o</a>`, {
          "content-type": "text/html",
        }));
      server.route("GET", "/stall", () =>
        sleep(30));
      server.route("GET", "/huge", (request) =>
        request.respond(200, "x".repeat(200_000), { "content-type": "text/html" }));
      server.route("GET", "/ok", (request) =>
        request.respond(200, "fine", { "content-type": "text/html" }));
      server.listen("127.0.0.1:0");
      try {
        const started = performance.now();
        const report = await crawl({
          start: [`${server.url}/`],
          delay: 0,
          timeout: 0.3,
          maxPageBytes: 100_000,
        });
        assert.ok(performance.now() - started < 5000);
        const byPath = new Map(report.pages.map((p) => [new URL(p.url).pathname, p]));
        assert.equal(byPath.get("/ok")?.status, 200);
        assert.match(byPath.get("/stall")!.error!, /TimeoutError/);
        assert.match(byPath.get("/huge")!.error!, /BodyTooLarge|too large/i);
        assert.equal(report.progress.errors, 2);
      } finally {
        await server.close({ graceSeconds: 0 }); // the /stall handler is still asleep
      }
    }),
});

Deno.test({
  name: "a host with a long Crawl-delay does not hold up another host's pages",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const slow = new HttpServer(), fast = new HttpServer();
      slow.listen("127.0.0.1:0");
      fast.listen("127.0.0.1:0");
      const html = { "content-type": "text/html" };
      slow.route("GET", "/robots.txt", (r) => r.respond(200, "User-agent: *\nCrawl-delay: 0.3\n"));
      slow.route("GET", "/", (r) =>
        r.respond(
          200,
          [0, 1, 2, 3].map((i) => `<a href="/s${i}">s</a>`).join("") +
            Array.from({ length: 20 }, (_, i) => `<a href="${fast.url}/f${i}">f</a>`).join(""),
          html,
        ));
      slow.route("GET", "/:page", (r) => r.respond(200, "slow page", html));
      fast.route("GET", "/robots.txt", (r) => r.respond(404, ""));
      fast.route("GET", "/:page", (r) => r.respond(200, "fast page", html));
      try {
        const report = await crawl({
          start: [`${slow.url}/`],
          follow: () => true,
          workers: 3,
          delay: 0,
        });
        const order = report.pages.map((p) => p.url.startsWith(slow.url) ? "s" : "f").join("");
        assert.equal(order.length, 25);
        // The fast host's 20 pages all came while the slow host was still waiting between its
        // pages (with one worker at most waiting on it), not after all of them.
        // One worker at most waits out the slow host's delay; the others fetch the fast
        // host's 20 pages meanwhile, so they come right after the index page (a pool whose
        // workers all sat out the slow host's delays would show "sss" first).
        assert.equal(order[0], "s");
        assert.ok(order.slice(1, 22).split("s").length - 1 <= 1, order);
        assert.equal(order.split("f").length - 1, 20);
      } finally {
        await slow.close();
        await fast.close();
      }
    }),
});

Deno.test({
  name: "a crawl interrupted (withTimeout) stops its workers and progress thread before it throws",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const server = new HttpServer();
      server.route("GET", "/robots.txt", (request) => request.respond(404, ""));
      server.route("GET", "/", (request) =>
        request.respond(200, `<a href="/stall">s</a>`, { "content-type": "text/html" }));
      server.route("GET", "/stall", () =>
        sleep(30));
      server.listen("127.0.0.1:0");
      try {
        await assert.rejects(
          withTimeout(0.3, () =>
            crawl({
              start: [`${server.url}/`],
              delay: 0,
              timeout: 20,
              workers: 3,
              onProgress: () => {},
              progressInterval: 0.05,
            })),
          TimeoutError,
        );
        const left = allThreads().filter((t) =>
          t.name.startsWith("crawl")
        ).map(String);
        assert.deepEqual(left, []);
      } finally {
        await server.close({ graceSeconds: 0 }); // the /stall handler is still asleep
      }
    }),
});
