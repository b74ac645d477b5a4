/**
 * Shared by the tests that start real servers (named, postgres, mariadb, slapd, vsftpd,
 * rabbitmq, sshd): free ports, waiting for a port, a test certificate, and registering
 * tests that skip with a clear message when the server is missing (and fail under CI).
 */
import { selfSignedCertificate } from "../demos/term/server.ts";
import { inThread } from "./_helpers.ts";
import {
  ClosedError,
  EOFError,
  Interrupted,
  listenOn,
  type Socket,
  SocketError,
  spawn,
} from "../mod.ts";

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * Waits until something accepts connections on 127.0.0.1:`port`.
 * @throws {Error} with `why()` after `seconds`
 */
export async function waitForPort(
  port: number,
  seconds: number,
  why: () => Promise<string> | string,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      if (Date.now() > deadline) throw new Error(await why());
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A self-signed certificate for localhost/127.0.0.1 written to `dir` as cert.pem and key.pem. */
export async function certificateFiles(
  dir: string,
): Promise<{ cert: string; certPath: string; keyPath: string }> {
  const { cert, key } = await spawn(() => selfSignedCertificate()).join();
  await Deno.writeTextFile(`${dir}/cert.pem`, cert);
  await Deno.writeTextFile(`${dir}/key.pem`, key);
  return { cert, certPath: `${dir}/cert.pem`, keyPath: `${dir}/key.pem` };
}

/**
 * Whether every one of `paths` is a file. Only "not found" means no: any other error (no
 * read permission...) is thrown, not taken for a missing server.
 */
export function installed(...paths: string[]): boolean {
  return paths.every((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  });
}

/** Sends SIGKILL to `child` unless it has ended already (from unload handlers). */
export function killNow(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch (e) {
    if (!(e instanceof TypeError && /already terminated/.test(e.message))) throw e;
  }
}

/**
 * Stopping a server process: `stop` asks it (SIGTERM), waits, then removes `dir`; `kill`
 * (from an unload handler) does not wait.
 */
export function processControl(
  child: Deno.ChildProcess,
  dir: string,
): TestServer & { pid: number } {
  return {
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      // A server that does not stop on SIGTERM (one stuck in its start-up, seen once with
      // MariaDB under load) is killed after 10 s: a test run never hangs on a stop.
      const timer = setTimeout(() => killNow(child), 10_000);
      try {
        await child.status;
      } finally {
        clearTimeout(timer);
      }
      await Deno.remove(dir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    },
    kill() {
      killNow(child);
    },
  };
}

/** A server the tests of one file share: started once, stopped by the file's last test. */
export interface TestServer {
  /** The server's process (for fault tests: SIGSTOP, SIGKILL). */
  pid?: number;
  stop(): Promise<void>;
  kill(): void;
}

/** What {@linkcode withServer} gives a test file. */
export interface ServerTests<S> {
  /** Registers a test run (in a thread) against the server. */
  test(name: string, body: (server: S) => Promise<void>): void;
  /** Registers the last test, which stops the server: call it at the end of the file. */
  finish(): void;
}

/**
 * Starts `start()` if `available`, for the tests of one file. Without the server a test
 * is skipped with `hint`, except under CI=true, where it fails.
 */
export async function withServer<S extends TestServer>(
  what: string,
  available: boolean,
  hint: string,
  start: () => Promise<S>,
): Promise<ServerTests<S>> {
  const ci = Deno.env.get("CI") === "true";
  const server: S | null = available ? await start() : null;
  globalThis.addEventListener("unload", () => server?.kill());
  const skip = server === null && !ci;
  return {
    test(name, body) {
      Deno.test({
        name: `${name}${skip ? ` (skipped: no ${what}; ${hint})` : ""}`,
        ignore: skip,
        sanitizeOps: false,
        sanitizeResources: false,
        fn: () => {
          if (server === null) throw new Error(`${what} is missing (CI must install it: ${hint})`);
          return inThread(() => body(server));
        },
      });
    },
    finish() {
      Deno.test({
        name: `(stop the test ${what})`,
        ignore: server === null,
        fn: () => server!.stop(),
      });
    },
  };
}

/**
 * Runs `body` against a fake peer on a free port: `respond` plays the server for the one
 * connection `body` makes (sending garbage, stalling...). The peer is stopped afterwards.
 */
export async function withFakePeer(
  respond: (conn: Socket) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const fake = listenOn("127.0.0.1:0");
  const { port } = fake.localAddress() as { port: number };
  const peer = spawn({ name: "fake peer" }, async () => {
    const [conn] = await fake.accept();
    try {
      await respond(conn);
    } catch (e) {
      // The client may hang up first, or the test end and shut the peer down.
      const expected = e instanceof SocketError || e instanceof ClosedError ||
        e instanceof EOFError || e instanceof Interrupted;
      if (!expected) throw e;
    }
    conn.close();
  });
  try {
    await body(port);
  } finally {
    fake.close();
    peer.shutdown();
  }
}

/**
 * Freezes process `pid` (SIGSTOP) and returns once every one of its threads is stopped:
 * the signal is delivered asynchronously, and a thread still running could answer one
 * more request. Bounded: after 2 s it throws.
 */
export async function freezeProcess(pid: number): Promise<void> {
  Deno.kill(pid, "SIGSTOP");
  const stopped = () =>
    [...Deno.readDirSync(`/proc/${pid}/task`)].every((task) => {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
      return /\) [Tt] /.test(stat);
    });
  for (let i = 0; i < 200; i++) {
    if (stopped()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`process ${pid} did not stop within 2 s`);
}
