/**
 * Run by ffi_boundary_test.ts in a process of its own: waits for 20 file changes (half of
 * them seen, half interrupted by a timeout) on the backend given, and prints the count of
 * open descriptors before and after. On kqueue systems each watch opens the watched file
 * too (the EVFILT_VNODE target), which used to stay open.
 */
import { setBackend, spawn, TimeoutError, waitForFileChange, withTimeout } from "../../mod.ts";
import { sleep } from "../../core/sleep.ts";

const fdDir = Deno.build.os === "linux" ? "/proc/self/fd" : "/dev/fd";
const count = () => [...Deno.readDirSync(fdDir)].length;
setBackend(Deno.args[0] as "ffi" | "deno");
const dir = Deno.makeTempDirSync();
const file = `${dir}/watched.txt`;
Deno.writeTextFileSync(file, "0");
await spawn(async () => {
  const once = async (i: number) => {
    if (i % 2 === 0) {
      const watcher = spawn(() => waitForFileChange(file));
      await sleep(0.01);
      Deno.writeTextFileSync(file, String(i), { append: true });
      await withTimeout(5, () => watcher.join());
    } else {
      try {
        await withTimeout(0.01, () => waitForFileChange(file));
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
      }
    }
  };
  await once(0); // anything opened once, lazily, is open before counting
  await once(1);
  const before = count();
  for (let i = 0; i < 20; i++) await once(i);
  const after = count();
  console.log(`before ${before} after ${after}`);
}).join();
Deno.removeSync(dir, { recursive: true });
Deno.exit(0);
