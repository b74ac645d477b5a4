/** The lint plugin, on a fixture: un-awaited blocking calls flagged, awaited ones not. */
import assert from "node:assert/strict";
import plugin from "../../lint/no_unawaited_blocking.ts";

const fixture = new URL("./fixtures/unawaited.ts", import.meta.url);

function lineOf(source: string, offset: number): number {
  return source.slice(0, offset).split("\n").length;
}

Deno.test("flags exactly the fixture's un-awaited blocking calls", async () => {
  const source = await Deno.readTextFile(fixture);
  const diagnostics = Deno.lint.runPlugin(plugin, fixture.pathname, source);
  const flagged = diagnostics.map((d) => lineOf(source, d.range[0])).sort((a, b) => a - b);
  const expected = source.split("\n").flatMap((line, i) =>
    line.trimEnd().endsWith("// FLAGGED") ? [i + 1] : []
  );
  assert.ok(expected.length >= 10);
  assert.deepEqual(flagged, expected);
  for (const d of diagnostics) {
    assert.equal(d.id, "shrapnel/no-unawaited-blocking");
    assert.match(d.message, /blocks and its promise is dropped: await it/);
  }
});

Deno.test("an un-awaited sleep, pop and recv each alone", () => {
  for (
    const [code, what] of [
      ["sleep(1);", "sleep()"],
      ["const q = new Fifo(); q.pop();", "q.pop()"],
      ["function f(s: Socket) { s.recv(1); }", ".recv()"],
    ]
  ) {
    const diagnostics = Deno.lint.runPlugin(plugin, "x.ts", code);
    assert.equal(diagnostics.length, 1, code);
    assert.ok(diagnostics[0].message.startsWith(what), diagnostics[0].message);
  }
  assert.equal(Deno.lint.runPlugin(plugin, "x.ts", "await sleep(1);").length, 0);
});
