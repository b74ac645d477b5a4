/**
 * Run by worker_exit_test.ts: a worker opens the FFI shim, blocks a thread in accept (the
 * poll goes to a helper thread), keeps a socket pair open, and is terminated. The shim
 * must stay loaded (before it pinned itself, Deno closed the library with the worker and
 * the poll returned into unmapped code: a segfault), and the worker's poller must be torn
 * down with it: its sockets closed (the listener refuses connections, their descriptors
 * are gone), its helper poll woken. Prints "survived", "refused" and "closed N of M".
 */
const linux = Deno.build.os === "linux";
const link = (fd: number): string | null => {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
};

if (new URL(import.meta.url).search === "?worker") {
  const { listenOn, socketPair, spawn } = await import("../../mod.ts");
  const server = listenOn("127.0.0.1:0");
  const pair = await socketPair();
  spawn(() => server.accept());
  spawn(() => pair[0].recv(1));
  const fds = [server, ...pair].map((s) => (s as unknown as { fd: number }).fd);
  // Long enough for the poll to go idle, on the helper thread.
  const scope = self as unknown as { postMessage(message: unknown): void };
  setTimeout(() => {
    scope.postMessage({
      address: server.localAddress(),
      sockets: fds.map((fd) => [fd, linux ? link(fd) : null]),
    });
  }, 200);
} else {
  const worker = new Worker(`${import.meta.url}?worker`, { type: "module" });
  const { address, sockets } = await new Promise<
    { address: { host: string; port: number }; sockets: [number, string | null][] }
  >((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
  });
  worker.terminate();
  const closed = () => sockets.filter(([fd, was]) => was !== null && link(fd) !== was).length;
  let refused = false;
  for (let i = 0; i < 100 && (!refused || (linux && closed() < sockets.length)); i++) {
    await new Promise((r) => setTimeout(r, 50)); // the worker's thread ends, then its poller
    try {
      const conn = await Deno.connect({ hostname: address.host, port: address.port });
      conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      refused = true;
    }
  }
  console.log("survived");
  if (refused) console.log("refused");
  if (linux) console.log(`closed ${closed()} of ${sockets.length}`);
}
