/**
 * A cluster worker for worker_answers_test.ts, in a process of its own: it is told its
 * worker id and control path in its own environment (setting them in the test process
 * would make every child that other tests start meanwhile take itself for a worker).
 * It answers until its control connection closes.
 */
import { type ClusterMembership, joinCluster, main, sleep } from "../../mod.ts";

await main(async () => {
  const member: ClusterMembership = await joinCluster({
    answers: {
      big: () => ({ n: 1n }), // BigInt: JSON.stringify throws
      huge: () => "x".repeat(9 << 20), // past the 8 MiB line limit
      fine: () => 42,
      stopping: () => ({ stopping: member.stopping, reason: member.stopReason ?? null }),
    },
  });
  for (let i = 0; i < 300 && !member.stopping; i++) await sleep(0.1); // bounded: 30 s
  member.close();
});
