/**
 * Run by socket_test.ts in a process of its own: opens and closes 100 connections on the
 * backend given, and prints the count of open descriptors before and after.
 */
import { connectTo, listenOn, setBackend, spawn } from "../../mod.ts";
import { sleep } from "../../core/sleep.ts";

const fdDir = Deno.build.os === "linux" ? "/proc/self/fd" : "/dev/fd";
const count = () => [...Deno.readDirSync(fdDir)].length;
/** fd number -> what it is (Linux), to name the descriptors a leak left open. */
const links = (): Map<string, string> =>
  new Map(
    [...Deno.readDirSync(fdDir)].map((e) => {
      try {
        return [e.name, Deno.readLinkSync(`${fdDir}/${e.name}`)];
      } catch {
        return [e.name, "?"];
      }
    }),
  );
setBackend(Deno.args[0] as "ffi" | "deno");
await spawn(async () => {
  const server = listenOn("127.0.0.1:0");
  const roundTrip = async () => {
    const client = await connectTo(server.localAddress());
    const [conn] = await server.accept();
    client.close();
    conn.close();
  };
  await roundTrip(); // anything opened once, lazily, is open before counting
  const before = count();
  const opened = links();
  for (let i = 0; i < 100; i++) await roundTrip();
  let after = count();
  for (let i = 0; i < 50 && after > before; i++) {
    await sleep(0.02); // Deno may close its side on a later turn
    after = count();
  }
  console.log(`before ${before} after ${after}`);
  for (const [fd, what] of links()) {
    if (opened.get(fd) !== what) console.log(`new: ${fd} -> ${what}`);
  }
  server.close();
}).join();
Deno.exit(0);
