/**
 * Downloading a prebuilt shim: the file for this OS/arch from the release the package
 * pins, accepted only when its SHA-256 matches the pin, then placed in the shim cache.
 *
 * @module
 */

import { ShrapnelError } from "../core/errors.ts";

/** The prebuilt shims of one release, built from one C source. */
export interface PrebuiltPins {
  /** SHA-256 (hex) of the C source the libraries were built from. */
  source: string;
  /** URL of the directory that holds the files, ending in "/". */
  baseUrl: string;
  /** Per target ("linux-x86_64"...): file name under `baseUrl` and its SHA-256 (hex). */
  files: Record<string, { name: string; sha256: string }>;
}

/** A download did not give the pinned library; nothing was written to the cache. */
export class PrebuiltShimError extends ShrapnelError {
  /** Makes the error; `message` says what was wrong. */
  constructor(message: string) {
    super(message);
  }
}

/** The most a shim download may take, in bytes (the shim is ~50 KiB). */
export const MAX_SHIM_BYTES = 8 << 20;

/** Options of {@linkcode downloadPrebuilt}. */
export interface DownloadOptions {
  /** Seconds the whole download may take; default 60. */
  timeoutSeconds?: number;
  /** Largest body accepted, in bytes; default {@linkcode MAX_SHIM_BYTES}. */
  maxBytes?: number;
}

/** Hex SHA-256 of `data`. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Downloads `target`'s library named by `pins` to `output` (atomically: a temporary file
 * renamed into place) after checking its SHA-256 against the pin.
 *
 * @throws {PrebuiltShimError} no pin for `target`, an HTTP error, a body over the size
 * cap, or a hash that does not match (nothing is written then)
 */
export async function downloadPrebuilt(
  pins: PrebuiltPins,
  target: string,
  output: string,
  options: DownloadOptions = {},
): Promise<string> {
  const file = pins.files[target];
  if (file === undefined) {
    throw new PrebuiltShimError(`no prebuilt shim for ${target}`);
  }
  const url = new URL(file.name, pins.baseUrl);
  const maxBytes = options.maxBytes ?? MAX_SHIM_BYTES;
  const response = await fetch(url, {
    signal: AbortSignal.timeout((options.timeoutSeconds ?? 60) * 1000),
  });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new PrebuiltShimError(`GET ${url}: HTTP ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new PrebuiltShimError(`GET ${url}: more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  const actual = await sha256Hex(body);
  if (actual !== file.sha256) {
    throw new PrebuiltShimError(
      `GET ${url}: SHA-256 ${actual} is not the pinned ${file.sha256}; not installed`,
    );
  }
  const temporary = `${output}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeFile(temporary, body, { mode: 0o755 });
  await Deno.rename(temporary, output);
  return output;
}
