/**
 * The backdoor over SSH (npm:ssh2's server, chosen: a full SSH implementation we would
 * not want to write), on shrapnel sockets: public-key or password login, a shell with
 * line editing when the client asks for a terminal, and `ssh host 'expression'`.
 *
 * @module
 */

import { loadOnce } from "../_load_once.ts";
import type { ReplOptions } from "./repl.ts";
import type { Backdoor } from "./server.ts";

/** The server's code, loaded by the first {@linkcode serveSsh}. */
const implementation = loadOnce(() => import("./_ssh.ts"), "the SSH backdoor");

/** Options of {@linkcode serveSsh}. */
export interface SshBackdoorOptions extends ReplOptions {
  /** The TCP port (0: any free one). */
  port?: number;
  /** The host ("127.0.0.1"); not loopback needs `allowRemote`. */
  host?: string;
  /** Allow a non-loopback host. */
  allowRemote?: boolean;
  /** The server's private host key (OpenSSH or PEM text). */
  hostKey: string;
  /** Public keys allowed in ("ssh-ed25519 AAAA... comment" lines). */
  authorizedKeys?: string[];
  /** A password hook; without it only keys are accepted. */
  login?: (user: string, password: string) => boolean | Promise<boolean>;
  /** Most SSH connections at once (16); more wait in the listen backlog. */
  maxConnections?: number;
  /**
   * Seconds a connection has to authenticate (30), from its accept: a peer that stays
   * silent or never logs in is disconnected then.
   */
  loginTimeout?: number;
}

/**
 * Serves the REPL over SSH. The first call loads npm:ssh2 (importing shrapnel does not).
 *
 * @example
 * ```ts ignore
 * import { serveSsh } from "./mod.ts";
 * await serveSsh({ port: 2222, hostKey: Deno.readTextFileSync("host_key"),
 *   authorizedKeys: [Deno.readTextFileSync("id_ed25519.pub")] });
 * // ssh -p 2222 ops@127.0.0.1
 * ```
 * @throws {TypeError} for a non-loopback host without `allowRemote`
 */
export async function serveSsh(options: SshBackdoorOptions): Promise<Backdoor> {
  return (await implementation()).serveSsh(options);
}

/** @deprecated Renamed {@linkcode serveSsh} (verb first, as `serve`, `listenTls`). */
export const sshServe: typeof serveSsh = serveSsh;
