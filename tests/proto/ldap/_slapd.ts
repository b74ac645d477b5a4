/**
 * A real LDAP server for the tests: Debian's slapd with a slapd.conf of its own (an mdb
 * database for dc=example,dc=test, root "cn=admin,dc=example,dc=test" / "secret"), on
 * 127.0.0.1 at a free port, StartTLS with a certificate made by openssl.
 */
import {
  certificateFiles,
  freePort,
  installed,
  processControl,
  waitForPort,
} from "../../_servers.ts";

export interface Slapd {
  port: number;
  base: string;
  adminDn: string;
  adminPassword: string;
  /** The server certificate, to trust for StartTLS. */
  cert: string;
  /** slapd's process, for the fault tests. */
  pid: number;
  stop(): Promise<void>;
  kill(): void;
}

export function slapdAvailable(): boolean {
  return installed("/usr/sbin/slapd", "/etc/ldap/schema/core.schema", "/usr/bin/openssl");
}

export async function startSlapd(): Promise<Slapd> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-slapd-" });
  await Deno.mkdir(`${dir}/db`);
  const { cert } = await certificateFiles(dir);
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
  await waitForPort(port, 10, async () => {
    child.kill("SIGKILL");
    const o = await child.output();
    return `slapd did not start: ${new TextDecoder().decode(o.stderr)}`;
  });
  return {
    port,
    base,
    adminDn: `cn=admin,${base}`,
    adminPassword: "secret",
    cert,
    ...processControl(child, dir),
  };
}
