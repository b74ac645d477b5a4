/**
 * A real FTP server for the tests: Debian's vsftpd on 127.0.0.1 at a free port, anonymous
 * logins into a temp tree (a read-only root with "pub/hello.txt" and a writable "upload"),
 * explicit TLS offered with a certificate made by openssl.
 */
import { certificateFiles, freePort, installed, killNow, waitForPort } from "../../_servers.ts";

export interface Vsftpd {
  port: number;
  /** The files' directory on disk (to check uploads). */
  root: string;
  /** The CA certificate to trust for TLS (the server's self-signed one). */
  cert: string;
  stop(): Promise<void>;
  kill(): void;
}

export function vsftpdAvailable(): boolean {
  return installed("/usr/sbin/vsftpd", "/usr/bin/openssl");
}

export async function startVsftpd(): Promise<Vsftpd> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-ftp-" });
  const root = `${dir}/root`;
  await Deno.mkdir(`${root}/pub`, { recursive: true });
  await Deno.mkdir(`${root}/upload`);
  await Deno.mkdir(`${dir}/empty`);
  await Deno.writeTextFile(`${root}/pub/hello.txt`, "hello over ftp\n");
  await Deno.writeFile(
    `${root}/pub/big.bin`,
    Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff),
  );
  await Deno.chmod(`${root}/upload`, 0o777);
  await Deno.chmod(root, 0o555); // vsftpd refuses a writable chroot
  const { cert } = await certificateFiles(dir);
  const port = freePort(), pasv = freePort();
  const conf = [
    "listen=YES",
    "listen_ipv6=NO",
    "listen_address=127.0.0.1",
    `listen_port=${port}`,
    "background=NO",
    "run_as_launching_user=YES",
    "seccomp_sandbox=NO",
    "anonymous_enable=YES",
    "local_enable=NO",
    "no_anon_password=YES",
    `anon_root=${root}`,
    "write_enable=YES",
    "anon_upload_enable=YES",
    "anon_mkdir_write_enable=YES",
    "anon_other_write_enable=YES",
    "anon_world_readable_only=NO",
    "anon_umask=022",
    `secure_chroot_dir=${dir}/empty`,
    "pasv_enable=YES",
    "pasv_address=127.0.0.1",
    `pasv_min_port=${pasv}`,
    `pasv_max_port=${pasv + 20}`,
    "ssl_enable=YES",
    `rsa_cert_file=${dir}/cert.pem`,
    `rsa_private_key_file=${dir}/key.pem`,
    "allow_anon_ssl=YES",
    "force_anon_logins_ssl=NO",
    "force_anon_data_ssl=NO",
    "require_ssl_reuse=NO",
    "ssl_ciphers=HIGH",
    "xferlog_enable=NO",
    `vsftpd_log_file=${dir}/vsftpd.log`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/vsftpd.conf`, conf);
  const child = new Deno.Command("/usr/sbin/vsftpd", {
    args: [`${dir}/vsftpd.conf`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await waitForPort(port, 10, async () => {
    child.kill("SIGKILL");
    const o = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return `vsftpd did not start: ${decode(o.stderr)}${decode(o.stdout)}`;
  });
  return {
    port,
    root,
    cert,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.chmod(root, 0o755);
      await Deno.remove(dir, { recursive: true });
    },
    kill() {
      killNow(child);
    },
  };
}
