/**
 * System calls a process makes over a window, counted by the kernel's tracepoints
 * (`perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_NAME...`, Linux, root or
 * perf_event_paranoid <= 1): a counter in the kernel per call, no stop per call as under
 * strace, so the server runs at nearly its own speed while counted.
 *
 * On this project's VMs a null system call costs ~575 ns (the "clear CPU buffers" mitigation
 * at each return to user space), about 7.5% of a request at depth 1: bench:http --syscalls
 * prints each server's calls per request, to see which ones a change removed.
 */

/** The calls counted one by one (the rest only in the total). */
export const COUNTED_SYSCALLS = [
  "recvfrom",
  "sendto",
  "read",
  "write",
  "readv",
  "writev",
  "epoll_wait",
  "epoll_pwait",
  "epoll_ctl",
  "io_uring_enter",
  "futex",
  "accept4",
] as const;

/** A running count (see {@linkcode countSyscalls}). */
export interface SyscallCount {
  /** Stops counting and returns the counts: "total" and each of COUNTED_SYSCALLS seen. */
  stop(): Promise<Map<string, number>>;
}

/**
 * Starts counting process `pid`'s system calls (all its threads) with `perf stat`; null if
 * perf is missing or may not trace (the caller says so once).
 */
export function countSyscalls(pid: number): SyscallCount | null {
  const events = [
    "raw_syscalls:sys_enter",
    ...COUNTED_SYSCALLS.map((name) => `syscalls:sys_enter_${name}`),
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("perf", {
      args: ["stat", "-x", ",", "-e", events.join(","), "-p", String(pid)],
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return {
    async stop() {
      // perf stat prints its counts when interrupted; it may have exited already (no rights).
      try {
        child.kill("SIGINT");
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // TypeError: it has exited already
      }
      const out = await child.output();
      const counts = new Map<string, number>();
      for (const line of new TextDecoder().decode(out.stderr).split("\n")) {
        const [value, , event] = line.split(",");
        const count = Number(value);
        if (event === undefined || !Number.isFinite(count)) continue;
        if (event === "raw_syscalls:sys_enter") counts.set("total", count);
        else if (event.startsWith("syscalls:sys_enter_") && count > 0) {
          counts.set(event.slice("syscalls:sys_enter_".length), count);
        }
      }
      return counts;
    },
  };
}
