/**
 * For the crawler's tests: a generated site (index, N pages linking to each other, a
 * robots.txt keeping crawlers out of /private/, a text file), Python's http.server as a
 * second, unrelated server, and Debian's BIND answering for the sites' names.
 */
import { freePort, waitForPort } from "../../_servers.ts";

/** The links of page `i` of `n` (relative paths), beside the shared ones. */
export function pageLinks(i: number, n: number): string[] {
  return [`/pages/p${(i + 1) % n}.html`, `/pages/p${(i * 7 + 3) % n}.html`];
}

/** Writes the site into `dir`; pages also link to `elsewhere` (another origin), if given. */
export async function writeSite(dir: string, n: number, elsewhere?: string): Promise<void> {
  await Deno.mkdir(`${dir}/pages`, { recursive: true });
  await Deno.mkdir(`${dir}/private`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/robots.txt`,
    "# test robots\nUser-agent: someone-else\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n",
  );
  await Deno.writeTextFile(`${dir}/data.txt`, "not html <a href='/pages/never.html'>\n");
  await Deno.writeTextFile(
    `${dir}/index.html`,
    `<html><body><a href="/pages/p0.html">start</a> <a href='/data.txt'>data</a></body></html>`,
  );
  for (let i = 0; i < 5; i++) {
    await Deno.writeTextFile(`${dir}/private/s${i}.html`, `<a href="/pages/secret.html">x</a>`);
  }
  for (let i = 0; i < n; i++) {
    const links = pageLinks(i, n).map((l) => `<a href="${l}">${l}</a>`);
    links.push(`<A class=x HREF=/private/s${i % 5}.html>private</A>`);
    links.push(`<a href="#top">top</a> <a href="mailto:x@example.com">mail</a>`);
    if (elsewhere) links.push(`<a href="${elsewhere}/pages/p${i}.html">there</a>`);
    await Deno.writeTextFile(
      `${dir}/pages/p${i}.html`,
      `<!doctype html><html><body><h1>page ${i}</h1>${links.join("\n")}</body></html>`,
    );
  }
}

/** A running helper process. */
export interface Process {
  port: number;
  /** Lines the process wrote to stderr so far. */
  log: string[];
  stop(): Promise<void>;
}

function collect(stream: ReadableStream<Uint8Array>, log: string[]): void {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let partial = "";
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const lines = (partial + value).split("\n");
      partial = lines.pop()!;
      log.push(...lines);
    }
  })();
}

/** `python3 -m http.server` serving `dir` on 127.0.0.1. */
export async function startPythonServer(dir: string): Promise<Process> {
  const port = freePort();
  const child = new Deno.Command("python3", {
    args: ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dir],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  collect(child.stderr, log);
  await waitForPort(port, 15, () => `python3 -m http.server did not start:\n${log.join("\n")}`);
  return {
    port,
    log,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** BIND answering for `zone` with `records` (zone file lines), on 127.0.0.1. */
export async function startZone(zone: string, records: string[]): Promise<Process> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-crawl-named-" });
  let port: number;
  for (;;) {
    port = freePort();
    try {
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
      break;
    } catch { /* taken for UDP: try another */ }
  }
  await Deno.writeTextFile(
    `${dir}/zone`,
    `$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 30\n@ IN NS ns\nns IN A 127.0.0.1\n${
      records.join("\n")
    }\n`,
  );
  await Deno.writeTextFile(
    `${dir}/named.conf`,
    `options { directory "${dir}"; pid-file "${dir}/named.pid"; listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; }; recursion no; dnssec-validation no; allow-query { any; }; notify no; };
controls { };
zone "${zone}" { type primary; file "${dir}/zone"; };
`,
  );
  const child = new Deno.Command("/usr/sbin/named", {
    args: ["-g", "-4", "-c", `${dir}/named.conf`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  collect(child.stderr, log);
  const deadline = Date.now() + 15000;
  while (!log.some((l) => / running$/.test(l))) {
    if (Date.now() > deadline || log.some((l) => l.includes("exiting"))) {
      child.kill("SIGKILL");
      throw new Error(`named did not start:\n${log.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    log,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
