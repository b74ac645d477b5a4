/**
 * HTTP/2 defects found in review, each with the hostile input that showed it: reply
 * fields sent unchecked, resets a client provokes for free (CVE-2025-8671), SETTINGS
 * frames that make the server walk every stream many times.
 */
import assert from "node:assert/strict";
import { HttpServer, InvalidFieldError } from "../../../proto/http/mod.ts";
import { socketTest } from "../../net/_backends.ts";
import { H2Peer } from "./_h2_peer.ts";

socketTest("h2: malformed reply fields or status: 500, nothing sent, onError told", async () => {
  const errors: unknown[] = [];
  const server = new HttpServer({ onError: (e) => errors.push(e) });
  server.route("GET", "/crlf", (r) => r.respond(200, "x", { "x-a": "a\r\nset-cookie: evil=1" }));
  server.route("GET", "/name", (r) => r.respond(200, "x", { "Bad Name": "v" }));
  server.route("GET", "/nul", (r) => r.respond(200, "x", { "x-b": "\u0000" }));
  server.route("GET", "/pseudo", (r) => r.respond(200, "x", { ":status": "200" }));
  server.route("GET", "/status", (r) => r.respond(1000, "x"));
  server.route("GET", "/pushed", async (r) => {
    r.status = 99;
    await r.push("x");
    await r.flush();
  });
  server.listen("127.0.0.1:0");
  const peer = await H2Peer.open(server.address);
  try {
    const paths = ["/crlf", "/name", "/nul", "/pseudo", "/status", "/pushed"];
    paths.forEach((p, i) => peer.request(1 + 2 * i, p));
    await peer.flush();
    for (let i = 0; i < paths.length; i++) {
      const r = await peer.response(1 + 2 * i);
      assert.equal(r.status, 500, paths[i]);
      for (const [name, value] of r.headers) {
        assert.ok(!/[\r\n\0]/.test(name + value) && !name.includes(" "), `${paths[i]}: ${name}`);
        assert.notEqual(name, "x-a");
      }
    }
    assert.equal(errors.length, paths.length, errors.map(String).join("\n"));
    for (const e of errors) assert.ok(e instanceof InvalidFieldError, String(e));
  } finally {
    peer.close();
    await server.close();
  }
});
