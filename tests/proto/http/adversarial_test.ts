/**
 * The standing adversarial suite for the HTTP server: slow-loris variants and connection
 * churn, with the process's descriptor count checked flat. Every case is bounded in time.
 */
import assert from "node:assert/strict";
import { connectTo, Interrupted, type Socket, spawn, withTimeout } from "../../../mod.ts";
import { sleep } from "../../../core/sleep.ts";
import { HttpServer } from "../../../proto/http/mod.ts";
import { bytes, socketTest, text } from "../../net/_backends.ts";

/** Descriptors this process holds (null where /proc is missing). */
function descriptors(): number | null {
  try {
    return [...Deno.readDirSync("/proc/self/fd")].length;
  } catch {
    return null;
  }
}

/** Waits (bounded) until the descriptor count is back to at most `baseline` + `slack`. */
async function flatAgain(baseline: number | null, slack: number, what: string): Promise<void> {
  if (baseline === null) return;
  try {
    await withTimeout(5, async () => {
      while (descriptors()! > baseline + slack) await sleep(0.02);
    });
  } catch {
    throw new Error(`${what}: ${descriptors()} descriptors, ${baseline} before`);
  }
}

function server(options: ConstructorParameters<typeof HttpServer>[0] = {}): HttpServer {
  const s = new HttpServer({ onError: () => {}, ...options });
  s.route("GET", "/", (r) => r.respond(200, "ok\n"));
  s.route("POST", "/upload", async (r) => r.respond(200, `${(await r.body.bytes()).length}\n`));
  s.listen("127.0.0.1:0");
  return s;
}

/** Reads until the server closes; what it said (bounded). */
async function untilClosed(socket: Socket, seconds: number): Promise<string> {
  let out = "";
  await withTimeout(seconds, async () => {
    for (;;) {
      const piece = await socket.recv(4096).catch(() => new Uint8Array(0));
      if (piece.length === 0) return;
      out += text(piece);
    }
  });
  return out;
}

socketTest(
  "slow loris: a head trickled a byte at a time gets 408 within headerTimeout",
  async () => {
    const s = server({ headerTimeout: 0.3 });
    const socket = await connectTo(s.address);
    try {
      const start = performance.now();
      const request = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(1000);
      const trickle = spawn(async () => {
        for (const c of request) {
          try {
            await socket.send(bytes(c));
          } catch {
            return; // the server hung up: the point
          }
          await sleep(0.02);
        }
      });
      const said = await untilClosed(socket, 5);
      assert.match(said, /^HTTP\/1\.1 408 /);
      assert.ok(performance.now() - start < 2000);
      trickle.shutdown();
      await trickle.join().catch((e) => assert.ok(e instanceof Interrupted, String(e)));
    } finally {
      socket.close();
      await s.close();
    }
  },
);

socketTest("slow loris: connections that say nothing are closed by idleTimeout", async () => {
  const s = server({ idleTimeout: 0.2 });
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 50; i++) sockets.push(await connectTo(s.address));
    await withTimeout(5, async () => {
      while (s.statistics().open > 0 || s.statistics().connections < 50) await sleep(0.02);
    });
    for (const socket of sockets) assert.equal(await untilClosed(socket, 2), "");
  } finally {
    for (const socket of sockets) socket.close();
    await s.close();
  }
});

socketTest("slow loris: a body trickled slower than bodyTimeout is cut off", async () => {
  const s = server({ bodyTimeout: 0.2 });
  const socket = await connectTo(s.address);
  try {
    await socket.send(bytes("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"));
    for (let i = 0; i < 3; i++) {
      await socket.send(bytes("x")).catch(() => 0);
      await sleep(0.05); // faster than the timeout: still alive
    }
    assert.equal(s.statistics().open, 1);
    const said = await untilClosed(socket, 3); // then silence: the deadline ends it
    assert.doesNotMatch(said, /200/);
    assert.equal(s.statistics().open, 0);
  } finally {
    socket.close();
    await s.close();
  }
});

socketTest(
  "slow loris: keep-alive requests do not hold a connection past its deadlines",
  async () => {
    const s = server({ idleTimeout: 0.3, headerTimeout: 0.3 });
    const socket = await connectTo(s.address);
    try {
      // Half a request line, then nothing: the head deadline, not the idle one, applies.
      await socket.send(bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /"));
      const said = await untilClosed(socket, 3);
      assert.match(said, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 408 /);
    } finally {
      socket.close();
      await s.close();
    }
  },
);

socketTest(
  "churn: thousands of connections opened, half-used, reset; descriptors flat",
  async () => {
    const s = server({ headerTimeout: 0.5, idleTimeout: 0.5 });
    const baseline = descriptors();
    try {
      const requests = [
        "",
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHo",
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        "garbage\r\n\r\n",
      ];
      const deadline = performance.now() + 10_000;
      for (let round = 0; round < 20 && performance.now() < deadline; round++) {
        const batch: Socket[] = [];
        for (let i = 0; i < 100; i++) {
          const socket = await connectTo(s.address);
          batch.push(socket);
          const request = requests[(round + i) % requests.length];
          if (request) await socket.send(bytes(request)).catch(() => 0);
        }
        // Some read their answer, the rest just vanish (a reset when unread data is left).
        for (let i = 0; i < batch.length; i++) {
          const answered = requests[(round + i) % requests.length].endsWith("\r\n\r\n");
          if (answered && i % 2 === 0) await withTimeout(2, () => batch[i].recv(64));
          batch[i].close();
        }
      }
      await withTimeout(5, async () => {
        while (s.statistics().open > 0) await sleep(0.02);
      });
      await flatAgain(baseline, 4, "after churn");
      // And the server still answers.
      const socket = await connectTo(s.address);
      await socket.send(bytes("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      assert.match(await untilClosed(socket, 5), /^HTTP\/1\.1 200 /);
      socket.close();
    } finally {
      await s.close();
    }
  },
);

socketTest("maxConnections: a flood waits in the backlog; served once others close", async () => {
  const s = server({ maxConnections: 5, idleTimeout: 5 });
  const held: Socket[] = [];
  try {
    for (let i = 0; i < 5; i++) held.push(await connectTo(s.address));
    await withTimeout(5, async () => {
      while (s.statistics().open < 5) await sleep(0.01);
    });
    const extra = await connectTo(s.address); // the kernel completes it; we do not accept
    await extra.send(bytes("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    await sleep(0.2);
    assert.equal(s.statistics().open, 5);
    assert.equal(s.statistics().acceptor?.maxConnections, 5);
    assert.ok(s.statistics().acceptor!.capped >= 1);
    held.shift()!.close();
    assert.match(await untilClosed(extra, 5), /^HTTP\/1\.1 200 /);
    extra.close();
  } finally {
    for (const socket of held) socket.close();
    await s.close();
  }
});
