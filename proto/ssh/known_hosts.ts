/**
 * Host keys: SHA-256 fingerprints as OpenSSH prints them, and lookups in an OpenSSH
 * `known_hosts` file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT": patterns with `*`, `?` and
 * `!`, `[host]:port`, hashed names `|1|salt|hash`, `@revoked` markers).
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "../../core/base64.ts";
import { nodeBuiltin } from "../../core/_node_builtin.ts";

// node:crypto loads with the first host key checked, not with shrapnel.
const nodeCrypto = () => nodeBuiltin<typeof import("node:crypto")>("node:crypto");

/**
 * The SHA-256 fingerprint of a public key blob, as `ssh-keygen -l` prints it.
 *
 * @example
 * ```ts
 * import { hostKeyFingerprint } from "./known_hosts.ts";
 * console.log(hostKeyFingerprint(new Uint8Array(0))); // SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
 * ```
 */
export function hostKeyFingerprint(key: Uint8Array): string {
  const digest = new Uint8Array(nodeCrypto().createHash("sha256").update(key).digest());
  return `SHA256:${encodeBase64(digest).replace(/=+$/, "")}`;
}

/** The key type a public key blob starts with ("ssh-ed25519", ...), or "" if unreadable. */
export function keyType(key: Uint8Array): string {
  if (key.length < 4) return "";
  const length = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0);
  if (length > key.length - 4 || length > 64) return "";
  return new TextDecoder().decode(key.subarray(4, 4 + length));
}

/** The name known_hosts uses for a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** What a known_hosts file says about a key presented by a host. */
export type KnownHostsVerdict =
  /** A line for the host has this key. */
  | { status: "known" }
  /** Lines for the host exist, none with this key (`line`: the first, 1-based). */
  | { status: "changed"; line: number }
  /** The key is marked `@revoked` (`line`, 1-based). */
  | { status: "revoked"; line: number }
  /** No line names the host. */
  | { status: "unknown" };

interface Entry {
  marker: string;
  hosts: string;
  type: string;
  key: Uint8Array | null;
  line: number;
}

function entries(text: string): Entry[] {
  const out: Entry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith("@") ? fields.shift()! : "";
    if (fields.length < 3) return;
    let key: Uint8Array | null;
    try {
      key = decodeBase64(fields[2]);
    } catch {
      key = null; // a malformed line matches no key, as in OpenSSH
    }
    out.push({ marker, hosts: fields[0], type: fields[1], key, line: i + 1 });
  });
  return out;
}

function wildcard(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
    /\?/g,
    ".",
  );
  return new RegExp(`^${source}$`, "i").test(name);
}

/** Whether a known_hosts host field names `name` (`host` or `[host]:port`). */
function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (salt === undefined || hash === undefined) return false;
    try {
      const mac = nodeCrypto().createHmac("sha1", decodeBase64(salt)).update(name).digest();
      return encodeBase64(new Uint8Array(mac)) === hash;
    } catch {
      return false;
    }
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    if (pattern.startsWith("!")) {
      if (wildcard(pattern.slice(1), name)) return false;
    } else if (wildcard(pattern, name)) matched = true;
  }
  return matched;
}

function sameKey(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Looks up the key `key` presented by `host`:`port` in known_hosts `text`.
 * `@cert-authority` lines are not used (host certificates are not supported).
 *
 * @example
 * ```ts
 * import { checkKnownHosts } from "./known_hosts.ts";
 * const key = new Uint8Array([0, 0, 0, 3, 97, 98, 99]);
 * console.log(checkKnownHosts("[127.0.0.1]:2222 abc AAAAA2FiYw==", "127.0.0.1", 2222, key));
 * // { status: "known" }
 * ```
 */
export function checkKnownHosts(
  text: string,
  host: string,
  port: number,
  key: Uint8Array,
): KnownHostsVerdict {
  const name = knownHostsName(host, port);
  let first = 0;
  let known = false;
  for (const e of entries(text)) {
    if (e.marker === "@revoked") {
      if (sameKey(e.key, key)) return { status: "revoked", line: e.line };
      continue;
    }
    if (e.marker !== "" || !hostsMatch(e.hosts, name)) continue;
    if (sameKey(e.key, key)) known = true;
    else if (first === 0) first = e.line;
  }
  if (known) return { status: "known" };
  return first > 0 ? { status: "changed", line: first } : { status: "unknown" };
}

/**
 * The key types known_hosts `text` has for `host`:`port` ("ssh-ed25519", ...), so the
 * client can ask for one of those first, as OpenSSH does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { knownKeyTypes } from "./known_hosts.ts";
 * assert.deepEqual(knownKeyTypes("example.com ssh-ed25519 AAAA", "example.com", 22), ["ssh-ed25519"]);
 * ```
 */
export function knownKeyTypes(text: string, host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types = new Set<string>();
  for (const e of entries(text)) {
    if (e.marker === "" && hostsMatch(e.hosts, name)) types.add(e.type);
  }
  return [...types];
}

/** `~/.ssh/known_hosts`, or null when there is no home directory to find it in. */
export function defaultKnownHostsPath(): string | null {
  const home = Deno.env.get("HOME");
  return home ? `${home}/.ssh/known_hosts` : null;
}
