/** The sharded demo's report of garbage dropped: a flood of it does not flood stderr. */
import assert from "node:assert/strict";
import { DropReport } from "../../../../demos/mmo/sharded/_drop_report.ts";
import { sleep } from "../../../../mod.ts";
import { inThread } from "../../../_helpers.ts";

Deno.test("DropReport: the first drop in full, then one line per interval with the counts", () =>
  inThread(async () => {
    const lines: string[] = [];
    const report = new DropReport("shard 7", {
      intervalSeconds: 0.05,
      write: (line) => lines.push(line),
    });
    for (let i = 0; i < 10_000; i++) report.dropped("a message in its handoff queue", "garbage");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^shard 7: dropped a message in its handoff queue: garbage/);
    assert.equal(report.pending, 9_999);
    await sleep(0.06);
    report.dropped("a message in its journal queue", "junk");
    assert.equal(lines.length, 2);
    assert.match(
      lines[1],
      /dropped 10000 more .*9999 × a message in its handoff queue, 1 × a message in its journal queue.*junk/,
    );
    assert.equal(report.pending, 0);
    report.dropped("a message in its journal queue", "junk");
    assert.equal(lines.length, 2);
  }));
