/** Kernel events as blocking, interruptible calls. */
import assert from "node:assert/strict";
import {
  type FfiPoller,
  ffiPoller,
  spawn,
  TimeoutError,
  waitForFdRead,
  waitForFileChange,
  waitForProcessExit,
  waitForSignal,
  withTimeout,
} from "../../mod.ts";
import { sleep } from "../../core/sleep.ts";
import { socketTest } from "./_backends.ts";

socketTest("waitForSignal returns when the signal comes, and times out when not", async () => {
  await assert.rejects(withTimeout(0.02, () => waitForSignal("SIGUSR1")), TimeoutError);
  const waiter = spawn(() => waitForSignal("SIGUSR1"));
  await sleep(0.01);
  Deno.kill(Deno.pid, "SIGUSR1");
  await withTimeout(2, () => waiter.join());
  assert.equal(waiter.dead, true);
});

socketTest("waitForProcessExit gives a child's exit code", async () => {
  const child = new Deno.Command("sh", { args: ["-c", "sleep 0.05; exit 7"] }).spawn();
  const exit = await withTimeout(5, () => waitForProcessExit(child));
  assert.deepEqual(exit, { pid: child.pid, code: 7, signal: null });
});

socketTest("waitForProcessExit on any pid: pidfd/kqueue, interruptible", async () => {
  // A grandchild: not ours to reap, so its exit code is unknown, but its exit is seen.
  const out = await new Deno.Command("sh", {
    args: ["-c", "sleep 0.3 >/dev/null 2>&1 & echo $!"],
    stdout: "piped",
  }).output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  assert.ok(pid > 0);
  await assert.rejects(withTimeout(0.02, () => waitForProcessExit(pid)), TimeoutError);
  const exit = await withTimeout(5, () => waitForProcessExit(pid));
  assert.deepEqual(exit, { pid, code: null, signal: null });
  await assert.rejects(waitForProcessExit(99_999_999), /ESRCH/); // no such process
}, { only: "ffi" });

socketTest("waitForFileChange sees a file created in a directory and a file written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(withTimeout(0.05, () => waitForFileChange(dir)), TimeoutError);
    const watcher = spawn(() => waitForFileChange(dir));
    await sleep(0.05);
    await Deno.writeTextFile(`${dir}/new.txt`, "x");
    const change = await withTimeout(5, () => watcher.join());
    assert.equal(change.created || change.modified, true);
    const fileWatcher = spawn(() => waitForFileChange(`${dir}/new.txt`));
    await sleep(0.05);
    await Deno.writeTextFile(`${dir}/new.txt`, "more", { append: true });
    assert.equal((await withTimeout(5, () => fileWatcher.join())).modified, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

socketTest("waitForFdRead waits for a foreign descriptor to become readable", async () => {
  const poller = ffiPoller() as FfiPoller;
  const fds = new Int32Array(2);
  assert.equal(poller.shim.sh_socketpair(1, new Uint8Array(fds.buffer), 8), 0);
  try {
    await assert.rejects(withTimeout(0.02, () => waitForFdRead(fds[0])), TimeoutError);
    const waiter = spawn(() => waitForFdRead(fds[0]));
    await sleep(0.01);
    assert.equal(waiter.dead, false);
    assert.equal(poller.shim.sh_send(fds[1], new Uint8Array([1]), 1), 1);
    await withTimeout(2, () => waiter.join());
  } finally {
    poller.shim.sh_close(fds[0]);
    poller.shim.sh_close(fds[1]);
  }
}, { only: "ffi" });
