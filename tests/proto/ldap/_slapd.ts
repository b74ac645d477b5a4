/**
 * A real LDAP server for the tests: Debian's slapd with a slapd.conf of its own (an mdb
 * database for dc=example,dc=test, root "cn=admin,dc=example,dc=test" / "secret"), on
 * 127.0.0.1 at a free port, StartTLS with a certificate made by openssl.
 */

export interface Slapd {
  port: number;
  base: string;
  adminDn: string;
  adminPassword: string;
  /** The server certificate, to trust for StartTLS. */
  cert: string;
  stop(): Promise<void>;
  kill(): void;
}

export function slapdAvailable(): boolean {
  try {
    return Deno.statSync("/usr/sbin/slapd").isFile &&
      Deno.statSync("/etc/ldap/schema/core.schema").isFile &&
      Deno.statSync("/usr/bin/openssl").isFile;
  } catch {
    return false;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

export async function startSlapd(): Promise<Slapd> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-slapd-" });
  await Deno.mkdir(`${dir}/db`);
  const ssl = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!ssl.success) throw new Error(new TextDecoder().decode(ssl.stderr));
  const base = "dc=example,dc=test";
  await Deno.writeTextFile(
    `${dir}/slapd.conf`,
    [
      "include /etc/ldap/schema/core.schema",
      "include /etc/ldap/schema/cosine.schema",
      "include /etc/ldap/schema/inetorgperson.schema",
      "modulepath /usr/lib/ldap",
      "moduleload back_mdb",
      `pidfile ${dir}/slapd.pid`,
      `TLSCertificateFile ${dir}/cert.pem`,
      `TLSCertificateKeyFile ${dir}/key.pem`,
      "database mdb",
      "maxsize 10485760",
      `suffix "${base}"`,
      `rootdn "cn=admin,${base}"`,
      "rootpw secret",
      `directory ${dir}/db`,
      "",
    ].join("\n"),
  );
  const port = freePort();
  const child = new Deno.Command("/usr/sbin/slapd", {
    args: ["-f", `${dir}/slapd.conf`, "-h", `ldap://127.0.0.1:${port}/`, "-d", "0"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        const o = await child.output();
        throw new Error(`slapd did not start: ${new TextDecoder().decode(o.stderr)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    base,
    adminDn: `cn=admin,${base}`,
    adminPassword: "secret",
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
}
