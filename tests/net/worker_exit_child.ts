/**
 * Run by worker_exit_test.ts: a worker opens the FFI shim, blocks a thread in accept (the
 * poll goes to a helper thread) and is terminated; then a connection makes that poll
 * return. Before the shim pinned itself, Deno had closed the library with the worker and
 * the poll returned into unmapped code (a segfault); it must print "survived" instead.
 */
if (new URL(import.meta.url).search === "?worker") {
  const { listenOn, spawn } = await import("../../mod.ts");
  const server = listenOn("127.0.0.1:0");
  spawn(() => server.accept());
  // Long enough for the poll to go idle, on the helper thread.
  const scope = self as unknown as { postMessage(message: unknown): void };
  setTimeout(() => scope.postMessage(server.getsockname()), 200);
} else {
  const worker = new Worker(`${import.meta.url}?worker`, { type: "module" });
  const address = await new Promise<{ host: string; port: number }>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
  });
  worker.terminate();
  await new Promise((r) => setTimeout(r, 200)); // the worker and its library are gone
  const conn = await Deno.connect({ hostname: address.host, port: address.port });
  await new Promise((r) => setTimeout(r, 300)); // the helper thread's poll returns
  conn.close();
  console.log("survived");
}
