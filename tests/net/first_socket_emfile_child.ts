/**
 * Run by first_socket_emfile_test.ts under a low descriptor limit: the process runs out of
 * descriptors before its first socket (so before the FFI shim is opened), connects, frees
 * the descriptors and connects again. Prints both outcomes and the backend used after.
 */
import { activeBackend, connectTo, setBackend, spawn } from "../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "auto");

const result = await spawn(async () => {
  const attempt = async () => {
    try {
      (await connectTo("127.0.0.1:9")).close();
      return "connected";
    } catch (e) {
      return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  };
  const held: Deno.FsFile[] = [];
  try {
    for (;;) held.push(Deno.openSync("/dev/null"));
  } catch (e) {
    if (!(e instanceof Error) || !/too many open files/i.test(e.message)) throw e;
  }
  let first: string;
  try {
    first = await attempt();
  } finally {
    for (const f of held) f.close();
  }
  const then = await attempt();
  return { exhausted: held.length, first, then, backend: activeBackend() };
}).join();
console.log(JSON.stringify(result));
