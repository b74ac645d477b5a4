/**
 * The implementation of the SSH backdoor (./ssh.ts), loaded by the first `serveSsh`.
 *
 * @module
 */

import { loadSsh2 } from "../ssh/_ssh2.ts";
import type { Buffer } from "node:buffer";
import { nodeBuiltin } from "../../core/_node_builtin.ts";
import { Fifo } from "../../core/sync/fifo.ts";
import { Interrupted } from "../../core/errors.ts";
import { sleep } from "../../core/sleep.ts";
import { ThreadGroup } from "../../core/thread_group.ts";
import { type Address, isIpLiteral } from "../../net/address.ts";
import { Acceptor } from "../../net/acceptor.ts";
import { listenOn } from "../../net/constructors.ts";
import { SocketDuplex } from "../../net/duplex.ts";
import { applyCompletion, type Completion, type LineIO, Repl } from "./repl.ts";
import type { Backdoor } from "./server.ts";
import type { SshBackdoorOptions } from "./ssh.ts";

type Stream = {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  write(data: string | Uint8Array): boolean;
  end(): void;
  exit(code: number): void;
};

const utf8 = new TextDecoder();

/**
 * Lines from an SSH channel. With a terminal (`pty`), keystrokes are echoed and edited
 * here (Enter, Backspace, Ctrl-C drops the line, Ctrl-D on an empty line ends).
 */
function channelLines(stream: Stream, pty: boolean): LineIO {
  const chunks = new Fifo<Uint8Array | null>();
  let complete: ((line: string) => Completion) | null = null;
  let prompt = ""; // what was written after the last newline: redrawn after a listing
  stream.on("data", (data) => chunks.push(new Uint8Array(data as Buffer)));
  stream.on("end", () => chunks.push(null));
  stream.on("close", () => chunks.push(null));
  let pending: number[] = [];
  let ended = false;
  return {
    async readLine() {
      const line: number[] = [];
      for (;;) {
        if (pending.length === 0) {
          if (ended) return line.length > 0 ? utf8.decode(Uint8Array.from(line)) : null;
          const chunk = await chunks.pop();
          if (chunk === null) {
            ended = true;
            continue;
          }
          pending = [...chunk];
        }
        const b = pending.shift()!;
        if (!pty) {
          if (b === 10) return utf8.decode(Uint8Array.from(line)).replace(/\r$/, "");
          line.push(b);
          continue;
        }
        if (b === 13 || b === 10) {
          stream.write("\r\n");
          return utf8.decode(Uint8Array.from(line));
        }
        if (b === 4 && line.length === 0) return null; // Ctrl-D
        if (b === 3) { // Ctrl-C
          line.length = 0;
          stream.write("^C\r\n");
          return "";
        }
        if (b === 127 || b === 8) {
          if (line.length > 0) {
            line.pop();
            stream.write("\b \b");
          }
          continue;
        }
        if (b === 9 && complete !== null) { // Tab: complete the name before the cursor
          const text = utf8.decode(Uint8Array.from(line));
          const c = complete(text);
          const result = applyCompletion(text, c);
          const added = new TextEncoder().encode(result.line.slice(text.length));
          line.push(...added);
          if (result.list) {
            stream.write(`\r\n${c.candidates.slice(0, 200).join("  ")}\r\n${prompt}${text}`);
          } else if (added.length > 0) stream.write(added);
          else stream.write("\x07"); // nothing to complete: the bell
          continue;
        }
        if (b >= 32 || b === 9) {
          line.push(b);
          stream.write(Uint8Array.of(b));
        }
      }
    },
    write(text) {
      const nl = text.lastIndexOf("\n");
      prompt = nl < 0 ? prompt + text : text.slice(nl + 1);
      stream.write(text);
      return Promise.resolve();
    },
    setCompleter(completer) {
      if (pty) complete = completer;
    },
  };
}

/** The implementation of {@linkcode serveSsh} (./ssh.ts). */
export async function serveSsh(options: SshBackdoorOptions): Promise<Backdoor> {
  const host = options.host ?? "127.0.0.1";
  const loopback = host === "::1" || /^127\./.test(host);
  if (!loopback && !options.allowRemote) {
    throw new TypeError(`the backdoor listens on loopback only (asked: ${host}); see allowRemote`);
  }
  if (!isIpLiteral(host)) throw new TypeError(`not an address: ${host}`);
  const ssh2 = await loadSsh2();
  const allowed = (options.authorizedKeys ?? []).map((line) => {
    const key = ssh2.utils.parseKey(line.trim());
    if (key instanceof Error) throw new TypeError(`bad authorized key: ${key.message}`);
    return Array.isArray(key) ? key[0] : key;
  });
  // A session that fails is reported through the thread error hook; the others go on.
  const sessions = new ThreadGroup({ name: "backdoor ssh sessions", childErrors: "report" });
  const session = (name: string, body: () => Promise<void>) => {
    sessions.spawn({ name }, body);
  };
  /** Peers ("host:port") that have authenticated, for the login deadline. */
  const authenticated = new Set<string>();
  const server = new ssh2.Server({ hostKeys: [options.hostKey] }, (client, info) => {
    const key = `${info.ip}:${info.port}`;
    client.on("close", () => authenticated.delete(key));
    client.on("error", () => {}); // a client that breaks off is not the server's failure
    client.on("authentication", (ctx) => {
      if (ctx.method === "publickey") {
        const match = allowed.find((k) =>
          k.type === ctx.key.algo &&
          nodeBuiltin<typeof import("node:buffer")>("node:buffer").Buffer.compare(
              k.getPublicSSH(),
              ctx.key.data,
            ) === 0
        );
        if (match === undefined) return ctx.reject();
        if (ctx.signature === undefined) return ctx.accept(); // "would this key do?"
        return match.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true
          ? ctx.accept()
          : ctx.reject();
      }
      if (ctx.method === "password" && options.login) {
        Promise.resolve(options.login(ctx.username, ctx.password)).then(
          (ok) => ok ? ctx.accept() : ctx.reject(),
          (e) => {
            ctx.reject(); // a login hook that fails lets nobody in, and is reported
            console.error("shrapnel backdoor ssh: the login hook failed:", e);
          },
        );
        return;
      }
      ctx.reject(options.login ? ["publickey", "password"] : ["publickey"]);
    });
    client.on("ready", () => {
      authenticated.add(key);
      client.on("session", (accept) => {
        const channel = accept();
        let pty = false;
        channel.on("pty", (ok) => {
          pty = true;
          ok?.();
        });
        channel.on("shell", (ok) => {
          const stream = ok() as unknown as Stream;
          session("backdoor ssh session", async () => {
            try {
              await new Repl(channelLines(stream, pty), {
                ...options,
                newline: pty ? "\r\n" : "\n",
              }).run();
            } finally {
              stream.exit(0);
              stream.end();
            }
          });
        });
        channel.on("exec", (ok, _reject, info) => {
          const stream = ok() as unknown as Stream;
          session("backdoor ssh exec", async () => {
            // One-shot: printed as an interactive line would print it (ps() too).
            let status = 1;
            try {
              const repl = new Repl(channelLines(stream, false), options);
              const { output, ok } = await repl.evaluateLine(info.command);
              stream.write(output);
              if (ok) status = 0;
            } finally {
              stream.exit(status);
              stream.end();
            }
          });
        });
      });
    });
  });
  const listener = listenOn(
    host.includes(":") ? `[${host}]:${options.port ?? 0}` : `${host}:${options.port ?? 0}`,
  );
  const loginTimeout = options.loginTimeout ?? 30;
  // One login deadline thread per connection, and the connections, for close().
  const deadlines = new ThreadGroup({
    name: "backdoor ssh login deadlines",
    childErrors: "report",
  });
  const connections = new Set<SocketDuplex>();
  const acceptor: Acceptor = new Acceptor(listener, (socket, peer) => {
    const duplex = new SocketDuplex(socket);
    const key = peer.family === "unix" ? "" : `${peer.host}:${peer.port}`;
    // The login deadline: ssh2 has none for a server (a silent peer is never even
    // handed to the connection listener).
    const deadline = deadlines.spawn({ name: "backdoor ssh login deadline" }, async () => {
      try {
        await sleep(loginTimeout);
      } catch (e) {
        if (e instanceof Interrupted) return; // the connection ended first
        throw e;
      }
      if (!authenticated.has(key)) duplex.destroy();
    });
    connections.add(duplex);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      connections.delete(duplex);
      deadline.shutdown();
      acceptor.release();
    };
    duplex.on("close", release);
    server.injectSocket(duplex as unknown as import("node:net").Socket);
  }, { name: "backdoor ssh acceptor", maxConnections: options.maxConnections ?? 16 });
  const address: Address = listener.localAddress();
  return {
    address,
    sessions: () => sessions.size,
    statistics: () => ({ acceptor: acceptor.statistics(), sessions: sessions.statistics() }),
    async close() {
      try {
        await acceptor.close();
      } finally {
        sessions.shutdown();
        deadlines.shutdown();
        try {
          await sessions.join();
          await deadlines.join();
        } finally {
          for (const connection of [...connections]) connection.destroy();
          server.close();
        }
      }
    },
  };
}
