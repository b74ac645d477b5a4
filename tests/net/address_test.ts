/** Address parsing and the shim's address buffer. */
import assert from "node:assert/strict";
import {
  ADDRESS_BUFFER_SIZE,
  decodeAddress,
  encodeAddress,
  formatAddress,
  ipv6Bytes,
  ipv6Text,
  parseAddress,
} from "../../mod.ts";
import { prng } from "../_helpers.ts";

Deno.test("parseAddress reads host:port, [v6]:port and unix paths", () => {
  assert.deepEqual(parseAddress("127.0.0.1:80"), { family: "ipv4", host: "127.0.0.1", port: 80 });
  assert.deepEqual(parseAddress("[::1]:8080"), { family: "ipv6", host: "::1", port: 8080 });
  assert.deepEqual(parseAddress("/tmp/x.sock"), { family: "unix", path: "/tmp/x.sock" });
  assert.deepEqual(parseAddress("example.com:443"), {
    family: "ipv4",
    host: "example.com",
    port: 443,
  });
});

Deno.test("parseAddress rejects what is not an address with a TypeError", () => {
  for (
    const bad of ["", "noport", "1.2.3.4:", "1.2.3.4:99999", "::1:80", "[::1]80", "h:-1", "h:1x"]
  ) {
    assert.throws(() => parseAddress(bad), TypeError, bad);
  }
});

Deno.test("addresses survive the shim's buffer unchanged", () => {
  const buf = new Uint8Array(ADDRESS_BUFFER_SIZE);
  for (
    const a of [
      { family: "ipv4", host: "10.1.2.3", port: 65535 },
      { family: "ipv6", host: "fe80::1", port: 1, scopeId: 2 },
      { family: "ipv6", host: "::ffff:1.2.3.4", port: 9 },
      { family: "unix", path: "/run/some.sock" },
    ] as const
  ) {
    assert.deepEqual(decodeAddress(encodeAddress(a, buf)), a, formatAddress(a));
  }
});

Deno.test("ipv6 text round-trips through bytes in canonical form", () => {
  for (const [input, canonical] of [["0:0:0:0:0:0:0:1", "::1"], ["2001:DB8::0:1", "2001:db8::1"]]) {
    assert.equal(ipv6Text(ipv6Bytes(input)!), canonical);
  }
});

Deno.test("garbage: 20k random strings parse or throw TypeError, never anything else", () => {
  const random = prng(7);
  const alphabet = "0123456789abcdef:.[]/%*-x ";
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    let s = "";
    const length = Math.floor(random() * 24);
    for (let j = 0; j < length; j++) s += alphabet[Math.floor(random() * alphabet.length)];
    try {
      const a = parseAddress(s);
      parsed++;
      if (a.family !== "unix") assert.ok(a.port >= 0 && a.port <= 65535);
    } catch (e) {
      assert.ok(e instanceof TypeError, `${JSON.stringify(s)}: ${e}`);
    }
  }
  assert.ok(parsed > 0);
});

Deno.test("garbage: random address buffers decode to some address without throwing", () => {
  const random = prng(11);
  const buf = new Uint8Array(ADDRESS_BUFFER_SIZE);
  for (let i = 0; i < 5_000; i++) {
    for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(random() * 256);
    buf[0] = [1, 4, 6][i % 3];
    buf[1] = 0;
    const a = decodeAddress(buf);
    assert.ok(["ipv4", "ipv6", "unix"].includes(a.family));
  }
});
