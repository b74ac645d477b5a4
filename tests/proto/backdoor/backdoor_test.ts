/** The backdoor REPL over loopback TCP and a unix socket. */
import assert from "node:assert/strict";
import { allThreads, connectTo, type Socket, spawn, withTimeout } from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import {
  type Backdoor,
  LoginThrottle,
  rewriteInput,
  serve,
  unfinished,
} from "../../../proto/backdoor/mod.ts";
import { inThread } from "../../_helpers.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

/** A client session: send a line, read what comes until the next prompt. */
class Session {
  readonly socket: Socket;
  #buffer = "";
  constructor(socket: Socket) {
    this.socket = socket;
  }
  static async open(backdoor: Backdoor): Promise<Session> {
    return new Session(await connectTo(backdoor.address));
  }
  /** Everything up to (not including) `marker`, waiting for it. */
  async until(marker = ">>> "): Promise<string> {
    return await withTimeout(5, async () => {
      for (;;) {
        const at = this.#buffer.indexOf(marker);
        if (at >= 0) {
          const out = this.#buffer.slice(0, at);
          this.#buffer = this.#buffer.slice(at + marker.length);
          return out;
        }
        const piece = await this.socket.recv(4096);
        if (piece.length === 0) throw new Error(`closed before "${marker}"; had: ${this.#buffer}`);
        this.#buffer += text(piece);
      }
    });
  }
  async eval(line: string): Promise<string> {
    await this.socket.send(bytes(`${line}\n`));
    return (await this.until()).trim();
  }
}

socketTest("expressions, persistent declarations, multi-line input, await, errors", async () => {
  const backdoor = serve({
    port: 0,
    insecureNoLoginOnTcp: true,
    welcome: "hello operator",
    globals: { answer: 42 },
  });
  const s = await Session.open(backdoor);
  try {
    assert.match(await s.until(), /hello operator/);
    assert.equal(await s.eval("1 + 1"), "2");
    assert.equal(await s.eval("answer"), "42");
    assert.equal(await s.eval("const base = 40"), "");
    assert.equal(await s.eval("base + 2"), "42");
    await s.socket.send(bytes("function twice(a) {\n"));
    assert.equal((await s.until("... ")).trim(), "");
    await s.socket.send(bytes("  return a * 2;\n"));
    await s.until("... ");
    assert.equal(await s.eval("}"), "");
    assert.equal(await s.eval("twice(21)"), "42");
    assert.equal(await s.eval("({ a: [1, 2], b: 'x' })"), '{ a: [ 1, 2 ], b: "x" }');
    assert.equal(
      await s.eval("await new Promise((r) => setTimeout(() => r('later'), 5))"),
      '"later"',
    );
    assert.match(await s.eval("throw new RangeError('boom')"), /RangeError: boom/);
    assert.match(await s.eval("nosuchname"), /ReferenceError: nosuchname is not defined/);
    assert.match(await s.eval("1 +* 2"), /SyntaxError/);
    assert.equal(await s.eval("_ === undefined"), "false"); // _ holds the last value
    // Several statements: the last expression's value shows, as in Node's and Deno's REPLs.
    assert.equal(await s.eval("let n = 1; n += 1; n * 10"), "20");
    assert.equal(await s.eval("n"), "2");
    assert.equal(
      await s.eval("const t = spawn({ name: 'napper' }, () => sleep(0.05)); t.state"),
      '"new"',
    );
    assert.equal(await s.eval("await t.join(); t.state"), '"dead"');
    // The core API is in scope.
    assert.equal(await s.eval("await sleep(0.01); 'slept'"), '"slept"');
    assert.match(
      await s.eval("await withTimeout(0.01, () => sleep(1)).catch((e) => e.name)"),
      /TimeoutError/,
    );
    assert.equal(
      await s.eval("[typeof Fifo, typeof Event, typeof Mutex, typeof threadDump]"),
      '[ "function", "function", "function", "function" ]',
    );
    assert.equal(await s.eval("const name = 'mine'; name"), '"mine"'); // shadows the global
  } finally {
    s.socket.close();
    await backdoor.close();
  }
});

socketTest("sessions are separate; threads can be listed and interrupted", async () => {
  const backdoor = serve({ port: 0, insecureNoLoginOnTcp: true });
  const sleeper = spawn({ name: "long sleeper" }, () => sleep(60));
  const a = await Session.open(backdoor), b = await Session.open(backdoor);
  try {
    await a.until();
    await b.until();
    await a.eval("let mine = 'a'");
    assert.match(await b.eval("mine"), /ReferenceError/);
    const table = await a.eval("ps()");
    assert.match(table, /long sleeper/);
    assert.match(table, /backdoor session/);
    const listed = await a.eval("threads().find((t) => t.name === 'long sleeper').state");
    assert.equal(listed, '"blocked"');
    await a.eval(`interrupt(${sleeper.id})`);
    await assert.rejects(withTimeout(2, () => sleeper.join()), /interrupted from the backdoor/);
    assert.equal(backdoor.sessions(), 2);
  } finally {
    a.socket.close();
    b.socket.close();
    await backdoor.close();
  }
});

socketTest("close() shuts open sessions down and leaves no session thread", async () => {
  const backdoor = serve({ port: 0, insecureNoLoginOnTcp: true });
  const a = await Session.open(backdoor), b = await Session.open(backdoor);
  try {
    await a.until();
    await b.until();
    assert.equal(backdoor.statistics().sessions.running, 2);
    await withTimeout(5, () => backdoor.close());
    const sessions = backdoor.statistics().sessions;
    assert.equal(sessions.state, "closed");
    assert.equal(sessions.running, 0);
    assert.equal(sessions.finished, 2);
    assert.equal(sessions.failed, 0);
    assert.equal(backdoor.sessions(), 0);
    assert.deepEqual(allThreads().filter((t) => t.name.startsWith("backdoor")).map(String), []);
    // The clients see their sessions end.
    assert.equal((await withTimeout(5, () => a.socket.recv(4096))).length, 0);
  } finally {
    a.socket.close();
    b.socket.close();
  }
});

socketTest("end of input (Ctrl-D) or .exit ends the session; a login hook guards it", async () => {
  const backdoor = serve({
    port: 0,
    login: (user, password) => user === "ops" && password === "s3cret",
  });
  try {
    const bad = await Session.open(backdoor);
    await bad.until("login: ");
    await bad.socket.send(bytes("ops\n"));
    await bad.until("password: ");
    await bad.socket.send(bytes("guess\n"));
    assert.match(await bad.until("login: "), /login incorrect/);
    bad.socket.close();
    const good = await Session.open(backdoor);
    await good.until("login: ");
    await good.socket.send(bytes("ops\ns3cret\n"));
    await good.until("password: ");
    await good.until();
    assert.equal(await good.eval("6 * 7"), "42");
    good.socket.shutdown("write"); // Ctrl-D
    assert.equal((await withTimeout(2, () => good.socket.recv(100))).length >= 0, true);
    await withTimeout(2, async () => {
      while (backdoor.sessions() > 0) await sleep(0.01);
    });
    good.socket.close();
  } finally {
    await backdoor.close();
  }
});

socketTest("a unix socket backdoor; non-loopback hosts are refused", async () => {
  const dir = await Deno.makeTempDir();
  const backdoor = serve({ unixPath: `${dir}/backdoor.sock` });
  try {
    const s = await Session.open(backdoor);
    await s.until();
    assert.equal(await s.eval("'via unix'"), '"via unix"');
    await s.socket.send(bytes(".exit\n"));
    await assert.rejects(s.until(), /closed before/); // the session ended
    s.socket.close();
  } finally {
    await backdoor.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => serve({ host: "0.0.0.0", port: 0 }), /loopback only/);
});

socketTest("TCP needs a login hook unless insecureNoLoginOnTcp says otherwise", () => {
  assert.throws(() => serve({ port: 0 }), /needs a login hook/);
  assert.throws(() => serve({ host: "::1", port: 0 }), /needs a login hook/);
});

socketTest("a login that never comes is cut off by loginTimeout", async () => {
  const backdoor = serve({ port: 0, login: () => true, loginTimeout: 0.2 });
  try {
    const s = await Session.open(backdoor);
    await s.until("login: ");
    assert.match(await s.until("closed-marker").catch((e) => String(e)), /login timed out/);
    s.socket.close();
    assert.equal(backdoor.sessions(), 0);
  } finally {
    await backdoor.close();
  }
});

socketTest(
  "the unix socket is 0600 whatever the umask; only a stale socket is replaced",
  async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/backdoor.sock`;
    const old = Deno.umask(0o002);
    let backdoor: Backdoor;
    try {
      backdoor = serve({ unixPath: path });
    } finally {
      Deno.umask(old);
    }
    try {
      assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
      // A live socket is not deleted from under its server.
      assert.throws(() => serve({ unixPath: path }), /live socket/);
      const s = await Session.open(backdoor);
      await s.until();
      s.socket.close();
    } finally {
      await backdoor.close();
    }
    // A file that is not a socket is never deleted.
    Deno.writeTextFileSync(path, "precious");
    assert.throws(() => serve({ unixPath: path }), /not a socket/);
    assert.equal(Deno.readTextFileSync(path), "precious");
    Deno.removeSync(path);
    // A stale socket (its process gone) is replaced.
    // A process that dies while listening leaves its socket file behind.
    await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${
          JSON.stringify(path)
        } }); Deno.kill(Deno.pid, "SIGKILL");`,
      ],
    }).output();
    if (!Deno.statSync(path).isSocket) throw new Error("expected a leftover socket file");
    const again = serve({ unixPath: path });
    try {
      const s = await Session.open(again);
      await s.until();
      s.socket.close();
    } finally {
      await again.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("top-level declarations become session variables; nested ones stay local", () => {
  assert.deepEqual(rewriteInput("const a = 1"), {
    body: "void (a = 1);",
    declared: ["a"],
    returnsValue: false,
  });
  const f = rewriteInput("x = f(); async function f() {\n  let y = 2;\n}");
  assert.equal(f.body, "f = async function f() {\n  let y = 2;\n};\nx = f(); ");
  assert.deepEqual(f.declared, ["f"]);
  assert.equal(rewriteInput("class K {}").body, "K = class K {};");
  const d = rewriteInput("let { a, b: [c, ...d] } = o, e; a + e");
  assert.deepEqual(d.declared, ["a", "c", "d", "e"]);
  assert.equal(d.body, "void ({ a, b: [c, ...d] } = o, e = undefined); return (a + e);");
  assert.equal(rewriteInput("a; b").body, "a; return (b);");
  assert.equal(rewriteInput("if (x) { y }").returnsValue, false);
  assert.throws(() => rewriteInput("1 +* 2"), SyntaxError);
});

Deno.test("an input is unfinished while brackets, a template or a comment are open", () => {
  for (const open of ["f(", "{ a: [1,", "`line", "/* note", "if (x) {\n  y();"]) {
    assert.ok(unfinished(open), open);
  }
  for (const done of ["f()", "'{'", "x // (", '"unclosed', "a[1]"]) {
    assert.ok(!unfinished(done), done);
  }
});

socketTest("failed logins slow the peer down, across its connections", async () => {
  const checks: { at: number; password: string }[] = [];
  const backdoor = serve({
    port: 0,
    login: (user, password) => {
      checks.push({ at: performance.now(), password });
      return user === "ops" && password === "s3cret";
    },
    loginThrottle: { firstDelay: 0.3, maxDelay: 1.2 },
  });
  const gap = (i: number) => (checks[i].at - checks[i - 1].at) / 1000;
  try {
    // Three guesses sent at once on one connection: 0.3 s, then 0.6 s apart.
    const a = await Session.open(backdoor);
    await a.socket.send(bytes("ops\nbad1\nops\nbad2\nops\nbad3\n"));
    await withTimeout(5, async () => {
      while (checks.length < 3) await sleep(0.01);
    });
    a.socket.close();
    assert.ok(gap(1) >= 0.25 && gap(2) >= 0.55, `gaps ${gap(1)} ${gap(2)}`);
    // A new connection does not start over: it waits the capped 1.2 s (and logs in).
    const b = await Session.open(backdoor);
    await b.socket.send(bytes("ops\ns3cret\n"));
    await b.until("password: ");
    await b.until();
    assert.equal(checks.length, 4);
    assert.ok(gap(3) >= 1.1, `gap ${gap(3)}`);
    b.socket.close();
    // A login forgets the failures; two guesses at once still wait their turns.
    const c1 = await Session.open(backdoor), c2 = await Session.open(backdoor);
    await c1.socket.send(bytes("ops\nbad4\n"));
    await c2.socket.send(bytes("ops\nbad5\n"));
    await withTimeout(5, async () => {
      while (checks.length < 6) await sleep(0.01);
    });
    assert.ok(gap(5) >= 0.25, `gap ${gap(5)}`);
    c1.socket.close();
    c2.socket.close();
  } finally {
    await backdoor.close();
  }
});

Deno.test("login throttle: loopback is one peer; a full table shares one entry", () =>
  inThread(async () => {
    const throttle = new LoginThrottle({ firstDelay: 0.2, maxPeers: 2 });
    const peer = (host: string) => ({ family: "ipv4" as const, host, port: 1 });
    const waited = async (host: string) => {
      const start = performance.now();
      await throttle.admit(peer(host));
      return (performance.now() - start) / 1000;
    };
    assert.ok(await waited("127.0.0.1") < 0.1);
    throttle.failed(peer("127.0.0.1"));
    assert.ok(await waited("127.9.9.9") >= 0.15); // another loopback address: the same peer
    assert.ok(await waited("10.0.0.1") < 0.1);
    // The table is full (127/8, 10.0.0.1): new addresses share one entry.
    assert.ok(await waited("10.0.0.2") < 0.1);
    throttle.failed(peer("10.0.0.2"));
    assert.ok(await waited("10.0.0.3") >= 0.15);
  }));
