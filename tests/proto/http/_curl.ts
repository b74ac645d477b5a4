/** curl as the peer of the HTTP handlers' tests: status, header fields and body. */

export interface CurlResult {
  /** The last response's status. */
  status: number;
  /** Every header block curl received (one per response), as text. */
  heads: string;
  /** The last response's body. */
  body: string;
}

/** Runs curl with `args` (-s, and -D/-o/-w added here). */
export async function curl(...args: string[]): Promise<CurlResult> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-curl-" });
  try {
    const out = await new Deno.Command("curl", {
      args: [
        "-s",
        "--max-time",
        "10",
        "-D",
        `${dir}/heads`,
        "-o",
        `${dir}/body`,
        "-w",
        "%{http_code}",
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`curl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return {
      status: Number(new TextDecoder().decode(out.stdout)),
      heads: await Deno.readTextFile(`${dir}/heads`),
      // curl makes the body file only when a body came.
      body: existsSync(`${dir}/body`) ? await Deno.readTextFile(`${dir}/body`) : "",
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Whether curl is installed. */
export function curlAvailable(): boolean {
  try {
    return Deno.statSync("/usr/bin/curl").isFile;
  } catch {
    return false;
  }
}
