/** known_hosts lookups and fingerprints, without a server (the sshd tests cover the rest). */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  checkKnownHosts,
  hostKeyFingerprint,
  keyType,
  knownKeyTypes,
} from "../../../proto/ssh/mod.ts";
import { encodeBase64 } from "../../../core/base64.ts";

const blob = (type: string, body: number[]) => {
  const name = new TextEncoder().encode(type);
  return new Uint8Array([0, 0, 0, name.length, ...name, ...body]);
};
const key = blob("ssh-ed25519", [1, 2, 3]);
const other = blob("ssh-ed25519", [9, 9, 9]);
const line = (hosts: string, k = key) => `${hosts} ${keyType(k)} ${encodeBase64(k)}`;

Deno.test("known_hosts: names, ports, patterns, negation, hashing, revocation, junk", () => {
  const check = (text: string, host = "a.example", port = 22) =>
    checkKnownHosts(text, host, port, key).status;
  assert.equal(check(line("a.example")), "known");
  assert.equal(check(line("A.EXAMPLE")), "known"); // names compare without case
  assert.equal(check(line("a.example"), "a.example", 2222), "unknown"); // port 2222: [a.example]:2222
  assert.equal(check(line("[a.example]:2222"), "a.example", 2222), "known");
  assert.equal(check(line("*.example,!b.example")), "known");
  assert.equal(check(line("*.example,!a.example")), "unknown");
  assert.equal(check(line("?.example")), "known");
  assert.equal(check(line("a.example", other)), "changed");
  assert.equal(check(`${line("a.example", other)}\n${line("a.example")}`), "known"); // two keys
  assert.equal(
    check(`${line("a.example")}\n@revoked * ${keyType(key)} ${encodeBase64(key)}`),
    "revoked",
  );
  assert.equal(check(`@cert-authority *.example ${keyType(key)} ${encodeBase64(key)}`), "unknown");
  assert.equal(
    check("# only a comment\n\nnot enough fields\na.example ssh-ed25519 !!notbase64"),
    "changed",
  );
  const salt = new Uint8Array(20).fill(7);
  const hash = encodeBase64(new Uint8Array(createHmac("sha1", salt).update("a.example").digest()));
  assert.equal(check(line(`|1|${encodeBase64(salt)}|${hash}`)), "known");
  assert.equal(check(line(`|1|${encodeBase64(salt)}|${hash}`), "b.example"), "unknown");
  assert.deepEqual(
    knownKeyTypes(
      `${line("a.example")}\n${line("b.example", blob("ssh-rsa", []))}`,
      "a.example",
      22,
    ),
    [
      "ssh-ed25519",
    ],
  );
});

Deno.test("fingerprints are OpenSSH's: SHA256, base64 without padding", () => {
  // ssh-keygen -lf prints this for the empty blob's digest: e3b0c442... in base64.
  assert.equal(
    hostKeyFingerprint(new Uint8Array(0)),
    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
  );
  assert.equal(keyType(key), "ssh-ed25519");
  assert.equal(keyType(new Uint8Array([0, 0, 1])), "");
});
