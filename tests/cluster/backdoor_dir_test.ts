/**
 * The cluster's backdoor directory against other local users: the supervisor refuses one
 * they could write in (where they could plant `worker-N` as a link to a socket of their
 * own, and an operator's `socat` would type into their fake REPL), a symbolic link, or one
 * that is not the supervisor's user's; a missing one is made with mode 0700.
 */
import assert from "node:assert/strict";
import { Supervisor, UnsafeDirectoryError } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

/** A supervisor whose workers would idle (none is started when the directory is refused). */
function supervisor(backdoorDir: string): Supervisor {
  return new Supervisor({
    workers: 1,
    command: ["eval", "await new Promise((r) => setTimeout(r, 60_000))"],
    backdoorDir,
    graceSeconds: 2,
    readyTimeout: 60,
    onEvent: () => {},
  });
}

async function refused(dir: string, why: RegExp): Promise<void> {
  const s = supervisor(dir);
  await inThread(async () => {
    await assert.rejects(s.start(), (e) => {
      assert.ok(e instanceof UnsafeDirectoryError, String(e));
      assert.match(e.message, why);
      return true;
    });
    assert.equal(s.pids.size, 0, "a worker was started");
  });
}

Deno.test("backdoorDir: writable by others, a symbolic link, or not ours is refused", async () => {
  const root = Deno.makeTempDirSync({ prefix: "shrapnel-backdoor-dir-" });
  try {
    const open = `${root}/open`;
    Deno.mkdirSync(open);
    Deno.chmodSync(open, 0o777); // as /tmp is, or a careless mkdir -m 777
    await refused(open, /writable by/);
    Deno.chmodSync(open, 0o1777); // the sticky bit keeps others from removing, not creating
    await refused(open, /writable by/);
    Deno.chmodSync(open, 0o770);
    await refused(open, /writable by/);

    const real = `${root}/real`;
    Deno.mkdirSync(real, { mode: 0o700 });
    Deno.symlinkSync(real, `${root}/link`);
    await refused(`${root}/link`, /symbolic link/);

    Deno.writeTextFileSync(`${root}/file`, "");
    await refused(`${root}/file`, /not a directory/);

    if (Deno.uid() === 0) { // a directory of another user: only root can make one
      const theirs = `${root}/theirs`;
      Deno.mkdirSync(theirs, { mode: 0o700 });
      Deno.chownSync(theirs, 65534, 65534);
      await refused(theirs, /owned by uid 65534/);
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test({
  name: "backdoorDir: a missing one is made with mode 0700; a private one is used as it is",
  sanitizeOps: false, // the worker process
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "shrapnel-backdoor-dir-" });
    try {
      for (const [dir, made] of [[`${root}/made`, true], [root, false]] as const) {
        if (!made) Deno.chmodSync(root, 0o750); // readable by the group: harmless
        const s = supervisor(dir);
        await inThread(async () => {
          await s.start();
          try {
            const info = Deno.lstatSync(dir);
            assert.ok(info.isDirectory);
            assert.equal(info.mode! & 0o777, made ? 0o700 : 0o750);
            assert.equal(s.pids.size, 1);
          } finally {
            await s.stop();
          }
        });
      }
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("backdoorDir: too long for a socket path at some generation is refused at start", async () => {
  const root = Deno.makeTempDirSync({ prefix: "shrapnel-backdoor-dir-" });
  try {
    // worker-1.1 fits here (107 bytes on Linux), worker-1.100 would not.
    const room = 107 - `${root}/`.length - "/worker-1.1".length;
    const dir = `${root}/${"d".repeat(room)}`;
    assert.equal(`${dir}/worker-1.1`.length, 107);
    const s = supervisor(dir);
    await inThread(async () => {
      await assert.rejects(s.start(), (e) => {
        assert.ok(e instanceof RangeError, String(e));
        assert.match(e.message, /too long/);
        return true;
      });
      assert.equal(s.pids.size, 0, "a worker was started");
    });
    assert.throws(() => Deno.lstatSync(dir), Deno.errors.NotFound, "made before refusing");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
