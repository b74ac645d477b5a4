import assert from "node:assert/strict";
import { HttpHeaders } from "../../../proto/http/mod.ts";
import { prng } from "../../_helpers.ts";

Deno.test("headers: names are case-insensitive, repeated fields kept in order", () => {
  const h = new HttpHeaders([["Accept", "a"], ["Host", "x"], ["ACCEPT", "b"]]);
  assert.equal(h.get("accept"), "a, b");
  assert.deepEqual(h.getAll("Accept"), ["a", "b"]);
  assert.equal(h.has("HOST"), true);
  assert.equal(h.get("missing"), null);
  assert.equal(h.size, 3);
  assert.deepEqual([...h], [["accept", "a"], ["host", "x"], ["accept", "b"]]);
  assert.equal(h.toString(), "accept: a\r\nhost: x\r\naccept: b\r\n");
});

Deno.test("headers: set replaces every field of a name with one, where the first was", () => {
  const h = new HttpHeaders({ "X-A": "1", "Host": "x" });
  h.add("x-a", "2");
  h.add("Vary", "v");
  h.add("x-a", "3");
  h.set("X-A", "only");
  assert.deepEqual([...h], [["x-a", "only"], ["host", "x"], ["vary", "v"]]);
  h.set("new", "n");
  assert.deepEqual([...h].at(-1), ["new", "n"]);
  assert.equal(h.size, 4);
});

Deno.test("headers: delete removes every field of a name and nothing else", () => {
  const h = new HttpHeaders([["a", "1"], ["b", "2"], ["A", "3"], ["c", "4"]]);
  h.delete("A");
  assert.deepEqual([...h], [["b", "2"], ["c", "4"]]);
  h.delete("absent");
  assert.equal(h.size, 2);
  const empty = new HttpHeaders();
  empty.delete("a");
  assert.equal(empty.size, 0);
  // Two empty header sets never share what is added to one of them.
  const other = new HttpHeaders();
  empty.add("x", "1");
  assert.equal(other.size, 0);
});

Deno.test("headers: tokens of comma-separated fields, case-insensitive", () => {
  const h = new HttpHeaders([["Connection", "keep-alive, Upgrade"]]);
  assert.equal(h.hasToken("connection", "upgrade"), true);
  assert.equal(h.hasToken("connection", "close"), false);
  assert.equal(new HttpHeaders([["connection", "Close"]]).hasToken("Connection", "close"), true);
});

Deno.test("headers: 2000 random add/set/delete sequences match a list of pairs", () => {
  const random = prng(11);
  const names = ["a", "B", "content-length", "Connection", "x-y"];
  for (let round = 0; round < 2000; round++) {
    const h = new HttpHeaders();
    let model: [string, string][] = [];
    for (let step = 0; step < 12; step++) {
      const name = names[Math.floor(random() * names.length)], key = name.toLowerCase();
      const value = String(Math.floor(random() * 100));
      const op = random();
      if (op < 0.4) {
        h.add(name, value);
        model.push([key, value]);
      } else if (op < 0.75) {
        h.set(name, value);
        const at = model.findIndex(([n]) => n === key);
        if (at < 0) model.push([key, value]);
        else {
          model[at] = [key, value];
          model = model.filter(([n], i) => n !== key || i === at);
        }
      } else {
        h.delete(name);
        model = model.filter(([n]) => n !== key);
      }
      assert.deepEqual([...h], model, `round ${round} step ${step}`);
      assert.equal(h.size, model.length);
      const values = model.filter(([n]) => n === key).map(([, v]) => v);
      assert.equal(h.get(name), values.length === 0 ? null : values.join(", "));
    }
  }
});
