/** The DNS cache: LRU order, pinned entries, TTLs, negative entries; the codec on garbage. */
import assert from "node:assert/strict";
import {
  decodeMessage,
  DnsCache,
  loadDnsCodec,
  MalformedPacketError,
} from "../../../proto/dns/mod.ts";
import { sleep } from "../../../core/sleep.ts";
import { now } from "../../../core/clock.ts";
import { inThread, prng } from "../../_helpers.ts";

await loadDnsCodec();

const rec = (name: string, data: string, ttl = 60) => [{ name, type: "A", ttl, data }];

Deno.test("the least recently used entry goes first; pinned ones never", () => {
  const cache = new DnsCache(2);
  cache.putRecords("a", "A", rec("a", "1.1.1.1"));
  cache.putRecords("b", "A", rec("b", "2.2.2.2"));
  assert.ok(cache.get("a", "A")); // a is now more recent than b
  cache.putRecords("c", "A", rec("c", "3.3.3.3"));
  assert.equal(cache.get("b", "A"), undefined);
  assert.ok(cache.get("a", "A") && cache.get("c", "A"));
  assert.equal(cache.statistics().evictions, 1);
  assert.deepEqual(cache.get("LOCALHOST.", "A"), {
    kind: "records",
    records: rec("localhost", "127.0.0.1", 0),
    expires: Infinity,
  });
});

Deno.test("entries expire with their TTL, raised to the minimum if one is set", () =>
  inThread(async () => {
    const plain = new DnsCache(10), floored = new DnsCache(10, 5);
    for (const cache of [plain, floored]) {
      cache.putRecords("short", "A", rec("short", "1.2.3.4", 0.02));
      cache.putNegative("gone", "A", true, 0.02);
      assert.equal(cache.get("gone", "A")?.kind, "nxdomain");
    }
    await sleep(0.05);
    assert.equal(plain.get("short", "A"), undefined);
    assert.equal(plain.get("gone", "A"), undefined);
    assert.equal(floored.get("short", "A")?.kind, "records");
    assert.equal(floored.get("gone", "A")?.kind, "nxdomain");
  }));

Deno.test("garbage: 20k random packets decode or throw MalformedPacketError, nothing else", () => {
  const random = prng(99);
  for (let i = 0; i < 20_000; i++) {
    const length = Math.floor(random() * 80);
    const bytes = Uint8Array.from({ length }, () => Math.floor(random() * 256));
    if (length >= 12 && i % 2 === 0) bytes.set([0, 1, 0, 0], 4); // plausible counts
    try {
      decodeMessage(bytes);
    } catch (e) {
      assert.ok(e instanceof MalformedPacketError, String(e));
    }
  }
});

Deno.test("TTLs: top bit set reads as 0; positive and negative ones capped, caps are knobs", () => {
  const cache = new DnsCache(10);
  const kept = cache.putRecords("top", "A", rec("top", "1.1.1.1", 0x80000000));
  assert.equal(kept[0].ttl, 0);
  assert.equal(cache.get("top", "A"), undefined);
  cache.putRecords("long", "A", rec("long", "1.1.1.2", 0x7fffffff));
  assert.ok(cache.get("long", "A")!.expires - now() <= 7 * 86400);
  cache.putNegative("gone", "A", true, 0x7fffffff);
  assert.ok(cache.get("gone", "A")!.expires - now() <= 3 * 3600);
  const tight = new DnsCache(10, 0, { maxTtl: 30, maxNegativeTtl: 2 });
  tight.putRecords("long", "A", rec("long", "1.1.1.2", 0x7fffffff));
  tight.putNegative("gone", "A", false, 999);
  assert.ok(tight.get("long", "A")!.expires - now() <= 30);
  assert.ok(tight.get("gone", "A")!.expires - now() <= 2);
  assert.throws(() => new DnsCache(10, 0, { maxTtl: -1 }), RangeError);
});
