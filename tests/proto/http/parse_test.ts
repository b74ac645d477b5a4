/** Parsing HTTP heads: what is accepted, what is refused, and garbage. */
import assert from "node:assert/strict";
import { bodyFraming } from "../../../proto/http/parse.ts";
import {
  HeadersTooLargeError,
  HttpError,
  HttpHeaders,
  HttpProtocolError,
  parseRequestHead,
  parseResponseHead,
} from "../../../proto/http/mod.ts";
import { prng } from "../../_helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("a request head gives method, target, version and case-insensitive fields", () => {
  const head = parseRequestHead(
    bytes("POST /a/b?c=1 HTTP/1.0\r\nHost: example\r\nX-Two: 1\r\nx-two: 2\r\n\r\n"),
  );
  assert.equal(head.method, "POST");
  assert.equal(head.target, "/a/b?c=1");
  assert.equal(head.minor, 0);
  assert.equal(head.headers.get("HOST"), "example");
  assert.equal(head.headers.get("x-two"), "1, 2");
  assert.deepEqual(head.headers.getAll("X-Two"), ["1", "2"]);
});

Deno.test("bare LF line ends and a leading empty line are accepted", () => {
  const head = parseRequestHead(bytes("\r\nGET / HTTP/1.1\nHost: x\n\n"));
  assert.equal(head.headers.get("host"), "x");
});

Deno.test("malformed request heads are HttpProtocolError (400)", () => {
  for (
    const bad of [
      "GET / HTTP/1.1 extra\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/1.1\r\nName : x\r\n\r\n",
      "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
      "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
      "GET / FTP/1.0\r\n\r\n",
      "\r\n\r\n",
    ]
  ) {
    assert.throws(() => parseRequestHead(bytes(bad)), HttpProtocolError, JSON.stringify(bad));
  }
});

Deno.test("HTTP/2.0 in a request line is 505; too many fields is 431", () => {
  assert.throws(
    () => parseRequestHead(bytes("GET / HTTP/2.0\r\n\r\n")),
    (e: unknown) => e instanceof HttpError && e.status === 505,
  );
  const many = "GET / HTTP/1.1\r\n" + "a: b\r\n".repeat(5) + "\r\n";
  assert.throws(() => parseRequestHead(bytes(many), 4), HeadersTooLargeError);
});

Deno.test("a response head gives status and reason; a malformed one is 502", () => {
  const head = parseResponseHead(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
  assert.equal(head.status, 200);
  assert.equal(head.reason, "OK");
  assert.equal(parseResponseHead(bytes("HTTP/1.1 204\r\n\r\n")).status, 204);
  assert.throws(
    () => parseResponseHead(bytes("HTTP/1.1 2000 OK\r\n\r\n")),
    (e: unknown) => e instanceof HttpProtocolError && e.status === 502,
  );
});

Deno.test("framing: chunked, length, close; conflicting framing is refused", () => {
  const h = (pairs: [string, string][]) => new HttpHeaders(pairs);
  assert.deepEqual(bodyFraming(h([["transfer-encoding", "chunked"]]), true), { kind: "chunked" });
  assert.deepEqual(bodyFraming(h([["content-length", "12"]]), true), {
    kind: "length",
    length: 12,
  });
  assert.deepEqual(bodyFraming(h([]), true), { kind: "length", length: 0 });
  assert.deepEqual(bodyFraming(h([]), false), { kind: "close" });
  for (
    const bad of [
      [["transfer-encoding", "chunked"], ["content-length", "3"]],
      [["content-length", "3"], ["content-length", "4"]],
      [["content-length", "-1"]],
      [["content-length", "0x10"]],
      [["transfer-encoding", "gzip"]],
    ] as [string, string][][]
  ) {
    // By instanceof: HttpProtocolError is an HttpError through HttpError's
    // Symbol.hasInstance, which Deno's node:assert class matching does not consult.
    assert.throws(
      () => bodyFraming(h(bad), true),
      (e) => e instanceof HttpError,
      JSON.stringify(bad),
    );
  }
  assert.deepEqual(bodyFraming(h([["content-length", "7, 7"]]), true), {
    kind: "length",
    length: 7,
  });
});

Deno.test("garbage: 20k random heads parse or throw an HttpError, nothing else", () => {
  const random = prng(3);
  const pieces = [
    "GET",
    "POST",
    " ",
    "/",
    "HTTP/1.1",
    "HTTP/1.0",
    "\r\n",
    "\n",
    ":",
    "a",
    "Host",
    "\x00",
    "\xff",
    "é",
    "\t",
    "chunked",
  ];
  for (let i = 0; i < 20_000; i++) {
    if (i % 100 === 0) {
      // The fuzzing never spoils the parser for good input.
      assert.equal(parseRequestHead(bytes(`GET /${i} HTTP/1.1\r\nA: b\r\n\r\n`)).target, `/${i}`);
    }
    let text = "";
    const n = Math.floor(random() * 16);
    for (let j = 0; j < n; j++) text += pieces[Math.floor(random() * pieces.length)];
    const raw = random() < 0.5
      ? bytes(text + "\r\n\r\n")
      : Uint8Array.from({ length: n * 3 }, () => Math.floor(random() * 256));
    for (const parse of [parseRequestHead, parseResponseHead]) {
      try {
        parse(raw);
      } catch (e) {
        assert.ok(e instanceof HttpError, `${JSON.stringify(text)}: ${e}`);
      }
    }
  }
});

Deno.test("names (lower-cased), values and targets come out as sent, however often seen", () => {
  const random = prng(7);
  const letters = "abcdefghijklmnopqrstuvwxyz-";
  const names: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let name = "x";
    const length = 1 + Math.floor(random() * 12);
    for (let j = 0; j < length; j++) name += letters[Math.floor(random() * letters.length)];
    names.push(name);
  }
  for (let round = 0; round < 3; round++) {
    for (const name of names) {
      const mixed = [...name].map((c) => random() < 0.5 ? c.toUpperCase() : c).join("");
      const value = name.slice(Math.floor(random() * name.length)) + String(round);
      const target = `/${mixed}?${value}`;
      const head = parseRequestHead(
        bytes(`GET ${target} HTTP/1.1\r\n${mixed}: ${value}\r\nEmpty:\r\n\r\n`),
      );
      assert.equal(head.target, target);
      assert.deepEqual([...head.headers], [[name, value], ["empty", ""]]);
    }
  }
});
