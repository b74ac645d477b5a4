/** amqp:// URLs as connect options, and what is refused. */
import assert from "node:assert/strict";
import { parseAmqpUrl } from "../../../proto/amqp/mod.ts";

Deno.test("amqp URLs: defaults left to the client, parts decoded", () => {
  assert.deepEqual(parseAmqpUrl("amqp://"), {});
  assert.deepEqual(parseAmqpUrl("amqp://127.0.0.1:5679"), { host: "127.0.0.1", port: 5679 });
  assert.deepEqual(parseAmqpUrl("amqp://u%3Ax:p%2Fw@h/%2F?heartbeat=5&connection_timeout=2500"), {
    host: "h",
    user: "u:x",
    password: "p/w",
    vhost: "/",
    heartbeat: 5,
    connectTimeoutSeconds: 2.5,
  });
  assert.equal(parseAmqpUrl("amqp://[::1]:5672").host, "::1");
});

Deno.test("amqp URLs: other schemes, TLS and bad numbers are TypeErrors", () => {
  for (const bad of ["", "127.0.0.1:5672", "http://h", "amqps://h", "amqp://h?heartbeat=-1"]) {
    assert.throws(() => parseAmqpUrl(bad), TypeError, bad);
  }
});

Deno.test("amqp URLs: a bad percent-escape in the credentials or vhost is a TypeError", () => {
  for (const bad of ["amqp://us%ZZer@h", "amqp://u:p%zz@h", "amqp://h/v%E0%A4"]) {
    assert.throws(() => parseAmqpUrl(bad), TypeError, bad);
  }
});

Deno.test("amqp URLs: without '//' there is no host: refused, never localhost with a mangled vhost", () => {
  for (const bad of ["amqp:broker.example", "amqp:/broker.example/prod", "amqp:broker:5672"]) {
    assert.throws(() => parseAmqpUrl(bad), TypeError, bad);
  }
});
