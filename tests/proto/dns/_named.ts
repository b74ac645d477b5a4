/**
 * Real DNS servers for the tests: three of Debian's BIND (named), each on 127.0.0.1 at a
 * port of its own, standing for the servers the zones' glue names: 127.0.0.1 the root,
 * 127.0.0.2 "test.", 127.0.0.3 "sub.test." and "glueless.test.". `addressMap` rewrites
 * those addresses to the real ones (the resolver's option for this).
 */
import type { InetAddress } from "../../../net/address.ts";
import { installed, killNow } from "../../_servers.ts";

export interface Named {
  /** Port of each pretend server address. */
  ports: Record<string, number>;
  /** Rewrites a pretend server address to where that server really listens. */
  addressMap(address: InetAddress): InetAddress;
  /** Stops the servers and removes their files. */
  stop(): Promise<void>;
  /** Kills the servers at once (from an unload handler). */
  kill(): void;
}

const ROOT = `$TTL 300
@ IN SOA ns.root. admin.root. 1 3600 600 86400 60
@ IN NS ns.root.
ns.root. IN A 127.0.0.1
test. IN NS ns.test.
ns.test. IN A 127.0.0.2
; a referral whose glue is for a name outside the delegated zone: must be ignored
evil. IN NS ns.evil.
ns.evil. IN A 127.0.0.2
`;

const BIG_TXT = Array.from(
  { length: 30 },
  (_, i) => `big TXT "${String(i).padStart(2, "0")}${"x".repeat(60)}"`,
)
  .join("\n");

const TEST = `$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 30
@ IN NS ns.test.
ns IN A 127.0.0.2
www IN A 127.0.0.10
www IN A 127.0.0.11
www IN AAAA 2001:db8::10
alias IN CNAME www
chain IN CNAME alias
loop1 IN CNAME loop2
loop2 IN CNAME loop1
dangling IN CNAME nothere
mail IN MX 10 www
${BIG_TXT}
short IN A 127.0.0.12
short IN TXT "no AAAA here"
sub IN NS ns.sub
ns.sub IN A 127.0.0.3
glueless IN NS ns.glueless.sub.test.
lame IN NS ns.lame
ns.lame IN A 127.0.0.1
`;

const SUB = `$TTL 300
@ IN SOA ns.sub.test. admin.sub.test. 1 3600 600 86400 30
@ IN NS ns.sub.test.
ns IN A 127.0.0.3
deep IN A 127.0.0.30
ns.glueless IN A 127.0.0.3
`;

const GLUELESS = `$TTL 300
@ IN SOA ns.glueless.sub.test. admin.glueless.test. 1 3600 600 86400 30
@ IN NS ns.glueless.sub.test.
far IN A 127.0.0.40
`;

const REVERSE = `$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 30
@ IN NS ns.test.
10.0.0 IN PTR www.test.
`;

/** A port free on 127.0.0.1 for both TCP and UDP; a bounded search. */
function freePort(): number {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Error("the DNS tests need Deno.listenDatagram: run with --unstable-net");
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = tcp.addr.port;
    tcp.close();
    try {
      const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
      udp.close();
      return port;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e; // taken for UDP: try another
    }
  }
  throw new Error("no port free for both TCP and UDP on 127.0.0.1 in 100 tries");
}

/** Whether named is installed here. */
export function namedAvailable(): boolean {
  return installed("/usr/sbin/named");
}

async function startOne(
  dir: string,
  name: string,
  zones: [string, string][],
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const port = freePort();
  await Deno.mkdir(`${dir}/${name}`);
  await Deno.writeTextFile(
    `${dir}/${name}/named.conf`,
    `options { directory "${dir}/${name}"; pid-file "${dir}/${name}/named.pid";
  listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no;
  dnssec-validation no; allow-query { any; }; notify no; };
controls { };
` + zones.map(([zone, file]) =>
        `zone "${zone}" { type primary; file "${dir}/${file}"; };`
      ).join("\n"),
  );
  const child = new Deno.Command("/usr/sbin/named", {
    args: ["-g", "-4", "-c", `${dir}/${name}/named.conf`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      log.push(value);
    }
  })();
  const deadline = Date.now() + 15000;
  // named's first line is "running on Linux ..."; the line that is only "running" comes
  // after "all zones loaded" (a query before that gets SERVFAIL).
  while (!/ running$/m.test(log.join(""))) {
    if (Date.now() > deadline || log.join("").includes("exiting")) {
      child.kill("SIGKILL");
      throw new Error(`named (${name}) did not start:\n${log.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child };
}

/** Starts the three servers; resolves once they all run. */
export async function startNamed(): Promise<Named> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-named-" });
  await Deno.writeTextFile(`${dir}/root.zone`, ROOT);
  await Deno.writeTextFile(`${dir}/test.zone`, TEST);
  await Deno.writeTextFile(`${dir}/sub.zone`, SUB);
  await Deno.writeTextFile(`${dir}/glueless.zone`, GLUELESS);
  await Deno.writeTextFile(`${dir}/reverse.zone`, REVERSE);
  const servers = await Promise.all([
    startOne(dir, "root", [[".", "root.zone"]]),
    startOne(dir, "test", [["test", "test.zone"], ["127.in-addr.arpa", "reverse.zone"]]),
    startOne(dir, "sub", [["sub.test", "sub.zone"], ["glueless.test", "glueless.zone"]]),
  ]);
  const ports: Record<string, number> = {
    "127.0.0.1": servers[0].port,
    "127.0.0.2": servers[1].port,
    "127.0.0.3": servers[2].port,
  };
  return {
    ports,
    addressMap(address) {
      const port = ports[address.host];
      return port === undefined ? address : { family: "ipv4", host: "127.0.0.1", port };
    },
    kill() {
      for (const { child } of servers) {
        killNow(child);
      }
    },
    async stop() {
      for (const { child } of servers) {
        child.kill("SIGTERM");
        await child.status;
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}
