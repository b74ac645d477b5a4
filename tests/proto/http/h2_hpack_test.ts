/** HPACK against RFC 7541's Appendix C, the Huffman table of Appendix B, and hostile blocks. */
import assert from "node:assert/strict";
import { HpackDecoder, HpackEncoder } from "../../../proto/http/h2/hpack.ts";
import {
  huffmanCode,
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
} from "../../../proto/http/h2/huffman.ts";
import { Http2Error } from "../../../proto/http/h2/errors.ts";
import { COMPRESSION_ERROR, ENHANCE_YOUR_CALM } from "../../../proto/http/h2/constants.ts";
import { prng } from "../../_helpers.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function flat(pairs: [string, string][]): string[] {
  return pairs.flat();
}

interface Vector {
  block: string;
  fields: [string, string][];
  table: [string, string][];
  size: number;
}

const REQUEST_1: [string, string][] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const REQUEST_2: [string, string][] = [...REQUEST_1, ["cache-control", "no-cache"]];
const REQUEST_3: [string, string][] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];
const REQUEST_TABLES: [string, string][][] = [
  [[":authority", "www.example.com"]],
  [["cache-control", "no-cache"], [":authority", "www.example.com"]],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], [
    ":authority",
    "www.example.com",
  ]],
];
const REQUEST_SIZES = [57, 110, 164];

const RESPONSE_1: [string, string][] = [
  [":status", "302"],
  ["cache-control", "private"],
  ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
  ["location", "https://www.example.com"],
];
const RESPONSE_2: [string, string][] = [[":status", "307"], ...RESPONSE_1.slice(1)];
const RESPONSE_3: [string, string][] = [
  [":status", "200"],
  ["cache-control", "private"],
  ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
  ["location", "https://www.example.com"],
  ["content-encoding", "gzip"],
  ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
];
const RESPONSE_TABLES: [string, string][][] = [
  [
    ["location", "https://www.example.com"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["cache-control", "private"],
    [":status", "302"],
  ],
  [
    [":status", "307"],
    ["location", "https://www.example.com"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["cache-control", "private"],
  ],
  [
    ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ["content-encoding", "gzip"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
  ],
];
const RESPONSE_SIZES = [222, 222, 215];

function series(
  blocks: string[],
  fields: [string, string][][],
  tables: [string, string][][],
  sizes: number[],
): Vector[] {
  return blocks.map((block, i) => ({ block, fields: fields[i], table: tables[i], size: sizes[i] }));
}

/** C.3 (requests, no Huffman), C.4 (requests, Huffman), C.5 and C.6 (responses, table 256). */
const SERIES: Record<string, { tableSize: number; vectors: Vector[] }> = {
  "C.3": {
    tableSize: 4096,
    vectors: series(
      [
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
      ],
      [REQUEST_1, REQUEST_2, REQUEST_3],
      REQUEST_TABLES,
      REQUEST_SIZES,
    ),
  },
  "C.4": {
    tableSize: 4096,
    vectors: series(
      [
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
      ],
      [REQUEST_1, REQUEST_2, REQUEST_3],
      REQUEST_TABLES,
      REQUEST_SIZES,
    ),
  },
  "C.5": {
    tableSize: 256,
    vectors: series(
      [
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        "4803333037c1c0bf",
        "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
      ],
      [RESPONSE_1, RESPONSE_2, RESPONSE_3],
      RESPONSE_TABLES,
      RESPONSE_SIZES,
    ),
  },
  "C.6": {
    tableSize: 256,
    vectors: series(
      [
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        "4883640effc1c0bf",
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
      ],
      [RESPONSE_1, RESPONSE_2, RESPONSE_3],
      RESPONSE_TABLES,
      RESPONSE_SIZES,
    ),
  },
};

Deno.test("hpack C.2: the four literal and indexed representations", () => {
  const cases: [string, [string, string], number, [string, string][]][] = [
    // C.2.1 literal with indexing, C.2.2 without, C.2.3 never indexed, C.2.4 indexed
    ["400a637573746f6d2d6b65790d637573746f6d2d686561646572", ["custom-key", "custom-header"], 55, [[
      "custom-key",
      "custom-header",
    ]]],
    ["040c2f73616d706c652f70617468", [":path", "/sample/path"], 0, []],
    ["100870617373776f726406736563726574", ["password", "secret"], 0, []],
    ["82", [":method", "GET"], 0, []],
  ];
  for (const [block, field, size, table] of cases) {
    const decoder = new HpackDecoder();
    const out = decoder.decode(hex(block));
    assert.deepEqual(out.fields, field);
    assert.equal(out.tooLarge, false);
    assert.equal(decoder.tableSize, size);
    assert.deepEqual(decoder.tableEntries, table);
  }
});

for (const [name, { tableSize, vectors }] of Object.entries(SERIES)) {
  Deno.test(`hpack ${name}: decoding three blocks in a row, table after each`, () => {
    const decoder = new HpackDecoder({ maxTableSize: tableSize });
    for (const v of vectors) {
      const out = decoder.decode(hex(v.block));
      assert.deepEqual(out.fields, flat(v.fields));
      assert.deepEqual(decoder.tableEntries, v.table);
      assert.equal(decoder.tableSize, v.size);
    }
  });
}

for (const name of ["C.4", "C.6"]) {
  Deno.test(`hpack ${name}: our encoder writes the RFC's very bytes`, () => {
    const { tableSize, vectors } = SERIES[name];
    const encoder = new HpackEncoder({ maxTableSize: tableSize });
    for (const v of vectors) assert.equal(toHex(encoder.encode(flat(v.fields))), v.block);
  });
}

Deno.test("hpack C.3 and C.5: without Huffman, our encoder writes the RFC's bytes", () => {
  for (const name of ["C.3", "C.5"]) {
    const { tableSize, vectors } = SERIES[name];
    const encoder = new HpackEncoder({ maxTableSize: tableSize, huffman: false });
    for (const v of vectors) assert.equal(toHex(encoder.encode(flat(v.fields))), v.block);
  }
});

Deno.test("huffman: the table of Appendix B is a complete prefix code (spot codes, Kraft sum 1)", () => {
  assert.deepEqual(huffmanCode(48), { code: 0x0, bits: 5 }); // '0'
  assert.deepEqual(huffmanCode(0), { code: 0x1ff8, bits: 13 });
  assert.deepEqual(huffmanCode(92), { code: 0x7fff0, bits: 19 }); // '\'
  assert.deepEqual(huffmanCode(255), { code: 0x3ffffee, bits: 26 });
  assert.deepEqual(huffmanCode(256), { code: 0x3fffffff, bits: 30 }); // EOS
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** -huffmanCode(s).bits;
  assert.equal(kraft, 1);
});

Deno.test("huffman: every byte value round-trips over random strings", () => {
  const random = prng(7);
  for (let round = 0; round < 500; round++) {
    const data = new Uint8Array(Math.floor(random() * 40));
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
    const out = new Uint8Array(huffmanLength(data));
    assert.equal(huffmanEncode(data, out, 0), out.length);
    assert.equal(huffmanDecode(out), String.fromCharCode(...data));
  }
});

Deno.test("huffman: EOS, long padding and padding of zeros are compression errors", () => {
  const bad = [
    new Uint8Array([0xff, 0xff, 0xff, 0xff]), // EOS (30 ones) in the data
    new Uint8Array([0x1f, 0xff]), // '0' then 11 bits of padding
    new Uint8Array([0x00]), // '0' then 3 bits of zeros
  ];
  for (const data of bad) {
    assert.throws(
      () => huffmanDecode(data),
      (e) => e instanceof Http2Error && e.code === COMPRESSION_ERROR,
    );
  }
});

Deno.test("hpack: table size updates only first in a block and within the limit", () => {
  const decoder = new HpackDecoder({ maxTableSize: 4096 });
  decoder.decode(hex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"));
  assert.equal(decoder.tableSize, 55);
  // Size 0 then 4096 at the start: the table is emptied, then allowed to grow back.
  const out = decoder.decode(new Uint8Array([0x20, 0x3f, 0xe1, 0x1f, 0x82]));
  assert.deepEqual(out.fields, [":method", "GET"]);
  assert.equal(decoder.tableSize, 0);
  const misplaced = new Uint8Array([0x82, 0x20]);
  assert.throws(
    () => decoder.decode(misplaced),
    /COMPRESSION_ERROR: table size update after a field/,
  );
  const over = new Uint8Array([0x3f, 0xe2, 0x1f]); // 4097
  assert.throws(() => decoder.decode(over), /over the limit 4096/);
});

Deno.test("hpack: the encoder announces the peer's smaller table first and evicts to it", () => {
  const encoder = new HpackEncoder(), decoder = new HpackDecoder();
  decoder.decode(encoder.encode(flat(REQUEST_3)));
  encoder.setPeerLimit(0);
  encoder.setPeerLimit(100);
  const block = encoder.encode(flat(REQUEST_3));
  assert.equal(block[0], 0x20); // size 0
  assert.equal(block[1], 0x3f); // then 100 (31 + 69)
  assert.deepEqual(decoder.decode(block).fields, flat(REQUEST_3));
  assert.ok(decoder.tableSize <= 100);
});

Deno.test("hpack: bad indexes, cut integers and strings are compression errors", () => {
  const bad = [
    [0x80], // index 0
    [0xbe], // dynamic index 62 in an empty table
    [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // an integer past 32 bits
    [0x7f], // an integer cut short
    [0x40, 0x05, 0x61], // a name longer than the block
  ];
  for (const block of bad) {
    assert.throws(
      () => new HpackDecoder().decode(new Uint8Array(block)),
      (e) => e instanceof Http2Error && e.code === COMPRESSION_ERROR,
    );
  }
});

Deno.test("hpack: a bomb (one big entry referenced over and over) stops at twice the list limit", () => {
  const decoder = new HpackDecoder({ maxHeaderListSize: 16384 });
  // One 4000-byte value, indexed, then 4000 one-byte references to it: 16 MB decoded.
  const value = new Uint8Array(4000).fill(0x61);
  const block = new Uint8Array([
    0x40,
    0x01,
    0x78,
    0x7f,
    0xa1,
    0x1e,
    ...value,
    ...new Array(4000).fill(0xbe),
  ]);
  assert.throws(
    () => decoder.decode(block),
    (e) => e instanceof Http2Error && e.code === ENHANCE_YOUR_CALM,
  );
  // Just over the limit: decoded in full, fields past the limit dropped, flagged.
  const small = new HpackDecoder({ maxHeaderListSize: 4100 });
  const out = small.decode(new Uint8Array([0x40, 0x01, 0x78, 0x7f, 0xa1, 0x1e, ...value, 0xbe]));
  assert.equal(out.tooLarge, true);
  assert.equal(out.fields.length, 2);
  assert.equal(out.size, 2 * (4001 + 32));
});

Deno.test("hpack: random blocks decode or fail with a COMPRESSION_ERROR, nothing else", () => {
  const random = prng(11);
  const encoder = new HpackEncoder();
  const valid = encoder.encode(flat(REQUEST_3));
  for (let round = 0; round < 3000; round++) {
    const decoder = new HpackDecoder({ maxHeaderListSize: 4096 });
    let block: Uint8Array;
    if (round % 2 === 0) {
      block = new Uint8Array(Math.floor(random() * 64));
      for (let i = 0; i < block.length; i++) block[i] = Math.floor(random() * 256);
    } else {
      // A valid block with a few bytes changed: deeper into the decoder.
      block = valid.slice();
      for (let k = 0; k < 3; k++) {
        block[Math.floor(random() * block.length)] = Math.floor(random() * 256);
      }
    }
    try {
      const out = decoder.decode(block);
      assert.ok(out.fields.length % 2 === 0);
    } catch (e) {
      assert.ok(
        e instanceof Http2Error && (e.code === COMPRESSION_ERROR || e.code === ENHANCE_YOUR_CALM),
        String(e),
      );
    }
  }
});
