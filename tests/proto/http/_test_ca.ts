/** A throwaway CA and a certificate it signed for localhost and 127.0.0.1, made by openssl. */

/** PEM texts: the server's certificate and key, and the CA that signed it. */
export interface TestCertificate {
  cert: string;
  key: string;
  ca: string;
}

/** A fresh test CA and leaf certificate; null when openssl is missing (CI must have it). */
export async function testCertificate(): Promise<TestCertificate | null> {
  const dir = await Deno.makeTempDir();
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await run([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=shrapnel test CA",
    ]);
    await run(["req", ...ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost"]);
    await Deno.writeTextFile(
      `${dir}/leaf.ext`,
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    await run([
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "cert.pem",
      "-days",
      "2",
      "-extfile",
      "leaf.ext",
    ]);
    const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
    return { cert: await read("cert.pem"), key: await read("key.pem"), ca: await read("ca.pem") };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
