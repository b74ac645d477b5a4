/** A route's `match` returns what it captured and changes nothing; the server assigns it. */
import assert from "node:assert/strict";
import { waitFor } from "../../../mod.ts";
import { type HttpRequest, HttpServer } from "../../../proto/http/mod.ts";
import { socketTest } from "../../net/_backends.ts";

/** A request `match` can read but not write: writing any field throws. */
function frozenRequest(method: string, path: string): HttpRequest {
  return Object.freeze({ method, path, params: Object.freeze({}) }) as unknown as HttpRequest;
}

Deno.test("a route's match returns its parameters and writes nothing on the request", () => {
  const server = new HttpServer();
  server.route("GET", "/users/:id/files/*", () => {});
  server.route("POST", "/plain", () => {});
  const [route, plain] = server.handlers;

  assert.deepEqual(route.match(frozenRequest("GET", "/users/7/files/a/b.txt")), {
    id: "7",
    "*": "a/b.txt",
  });
  assert.deepEqual(route.match(frozenRequest("HEAD", "/users/7/files/x")), { id: "7", "*": "x" });
  assert.equal(route.match(frozenRequest("GET", "/users/7")), false);
  assert.equal(route.match(frozenRequest("POST", "/users/7/files/x")), false);
  // A pattern without captures answers true: no object to make.
  assert.equal(plain.match(frozenRequest("POST", "/plain")), true);
  assert.equal(plain.match(frozenRequest("GET", "/plain")), false);
  // Each match makes its own object: one request's parameters are not another's.
  const a = route.match(frozenRequest("GET", "/users/1/files/x"));
  const b = route.match(frozenRequest("GET", "/users/2/files/x"));
  assert.notEqual(a, b);
});

socketTest(
  "the server sets the matching route's parameters; a declining one leaves none",
  async () => {
    const server = new HttpServer({ onError: () => {} });
    const seen: Record<string, string>[] = [];
    server.route("GET", "/item/:id", (r) => {
      seen.push(r.params);
      return r.respond(200, `item ${r.params.id}\n`);
    });
    // Declines every request, having looked at it; the next handler must see no parameters.
    server.push({ match: () => false, handle: () => {} });
    server.push({
      match: (r) => r.path.startsWith("/other/"),
      handle: (r) => {
        seen.push(r.params);
        return r.respond(200, "other\n");
      },
    });
    server.listen("127.0.0.1:0");
    try {
      const item = await waitFor(fetch(`${server.url}/item/42`));
      assert.equal(await waitFor(item.text()), "item 42\n");
      const other = await waitFor(fetch(`${server.url}/other/42`));
      assert.equal(await waitFor(other.text()), "other\n");
      assert.deepEqual(seen, [{ id: "42" }, {}]);
    } finally {
      await server.close();
    }
  },
);
