/**
 * Sockets whose blocking calls block only the calling thread, on two backends (the FFI
 * poller and Deno's own API), plus kernel events as blocking calls.
 *
 * @example
 * ```ts
 * import { connectTo, listenOn, spawn } from "../mod.ts";
 * const server = listenOn("127.0.0.1:0");
 * spawn(async () => {
 *   const [conn] = await server.accept();
 *   await conn.send(await conn.recv(100)); // echo once
 *   conn.close();
 * });
 * await spawn(async () => {
 *   const client = await connectTo(server.localAddress());
 *   await client.send(new TextEncoder().encode("ping"));
 *   console.log(new TextDecoder().decode(await client.recvExact(4)));
 *   client.close();
 *   server.close();
 * }).join();
 * ```
 *
 * @module
 */

// Named by this module's API: the base of its errors, the thread type of its waits.
export { ProtocolError, type ProtocolName, ShrapnelError } from "../core/errors.ts";
export type { SpawnOptions, Thread, ThreadState } from "../core/thread.ts";
export type { ThreadGroup, ThreadGroupStatistics } from "../core/thread_group.ts";
export * from "./acceptor.ts";
export * from "./address.ts";
export * from "./buffered_reader.ts";
export * from "./cluster.ts";
export * from "./cluster_worker.ts";
export * from "./backend.ts";
export * from "./constructors.ts";
export * from "./duplex.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./resolver.ts";
export * from "./socket.ts";
export { DenoSocket, fromDenoError, TlsError } from "./deno_socket.ts";
export * from "./tls.ts";
export { FfiSocket } from "./ffi_socket.ts";
export {
  FfiPoller,
  ffiPoller,
  type Pollable,
  type PollerStatistics,
  quiesceFfiPoller,
  SELFISHNESS,
} from "./ffi_poller.ts";
