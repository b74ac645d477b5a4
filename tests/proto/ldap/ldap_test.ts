/** The LDAP client against Debian's slapd on loopback; the filter parser on garbage. */
import { freezeProcess, withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { TimeoutError, withTimeout } from "../../../mod.ts";
import { decodeMessage } from "../../../proto/ldap/_client.ts";
import {
  FilterSyntaxError,
  LdapClient,
  LdapError,
  LdapProtocolError,
  MAX_FILTER_DEPTH,
  parseFilter,
} from "../../../proto/ldap/mod.ts";
import { inThread, prng } from "../../_helpers.ts";
import { slapdAvailable, startSlapd } from "./_slapd.ts";
import { loadAsn1 } from "../../../proto/ldap/_asn1.ts";

await loadAsn1(); // the codec tests below decode without a connection

const servers = await withServer("slapd", slapdAvailable(), "apt-get install slapd", startSlapd);
const ldapTest = servers.test;

ldapTest("bind, add, search with filters, modify, delete", async (s) => {
  const ldap = await LdapClient.connect({ port: s.port });
  try {
    await assert.rejects(
      ldap.bind(s.adminDn, "wrong"),
      (e: unknown) => e instanceof LdapError && e.code === 49,
    );
    await ldap.bind(s.adminDn, s.adminPassword);
    await ldap.add(s.base, {
      objectClass: ["dcObject", "organization"],
      dc: "example",
      o: "Example",
    });
    await ldap.add(`ou=people,${s.base}`, { objectClass: "organizationalUnit", ou: "people" });
    for (
      const [uid, cn, sn] of [["ada", "Ada Lovelace", "Lovelace"], [
        "alan",
        "Alan Turing",
        "Turing",
      ], ["grace", "Grace Hopper", "Hopper"]]
    ) {
      await ldap.add(`uid=${uid},ou=people,${s.base}`, {
        objectClass: "inetOrgPerson",
        uid,
        cn,
        sn,
        mail: `${uid}@example.test`,
      });
    }
    await assert.rejects(
      ldap.add(`uid=ada,ou=people,${s.base}`, {
        objectClass: "inetOrgPerson",
        uid: "ada",
        cn: "x",
        sn: "y",
      }),
      (e: unknown) => e instanceof LdapError && e.code === 68,
    );
    const people = await ldap.search(`ou=people,${s.base}`, "(objectClass=inetOrgPerson)", ["uid"]);
    assert.deepEqual(people.map((p) => p.attributes.uid[0]).sort(), ["ada", "alan", "grace"]);
    const a = await ldap.search(s.base, "(&(objectClass=inetOrgPerson)(|(cn=A*)(sn=Hop*)))", [
      "cn",
    ]);
    assert.deepEqual(a.map((p) => p.attributes.cn[0]).sort(), [
      "Ada Lovelace",
      "Alan Turing",
      "Grace Hopper",
    ]);
    const notAda = await ldap.search(s.base, "(&(uid=*)(!(uid=ada)))", ["uid"]);
    assert.deepEqual(notAda.map((p) => p.attributes.uid[0]).sort(), ["alan", "grace"]);
    const one = await ldap.search(s.base, "(objectClass=*)", [], { scope: "one" });
    assert.deepEqual(one.map((e) => e.dn), [`ou=people,${s.base}`]);
    await ldap.modify(`uid=alan,ou=people,${s.base}`, [{
      operation: "replace",
      attribute: "mail",
      values: ["turing@example.test"],
    }, { operation: "add", attribute: "description", values: ["computing"] }]);
    const alan = await ldap.search(`uid=alan,ou=people,${s.base}`, "(objectClass=*)", [
      "mail",
      "description",
    ], { scope: "base" });
    assert.deepEqual(alan[0].attributes, {
      mail: ["turing@example.test"],
      description: ["computing"],
    });
    await ldap.delete(`uid=grace,ou=people,${s.base}`);
    await assert.rejects(
      ldap.delete(`uid=grace,ou=people,${s.base}`),
      (e: unknown) => e instanceof LdapError && e.code === 32,
    );
    await assert.rejects(
      ldap.search(`ou=nowhere,${s.base}`),
      (e: unknown) => e instanceof LdapError && e.code === 32,
    );
  } finally {
    await ldap.unbind();
  }
});

ldapTest("StartTLS, then a bind over TLS", async (s) => {
  const ldap = await LdapClient.connect({ port: s.port });
  try {
    await ldap.startTls({ hostname: "localhost", caCerts: [s.cert] });
    await ldap.bind(s.adminDn, s.adminPassword);
    const root = await ldap.search(s.base, "(objectClass=*)", ["dc"], { scope: "base" }).catch((
      e,
    ) => e);
    assert.ok(Array.isArray(root) || (root instanceof LdapError && root.code === 32));
  } finally {
    await ldap.unbind();
  }
});

Deno.test("RFC 4515 filters parse, escapes included; bad ones are FilterSyntaxErrors", () => {
  assert.deepEqual(parseFilter("(cn=a\\2ab)"), {
    type: "equal",
    attribute: "cn",
    value: new TextEncoder().encode("a*b"),
  });
  assert.deepEqual(parseFilter("sn=*"), { type: "present", attribute: "sn" });
  const sub = parseFilter("(cn=J*n*y)");
  assert.equal(sub.type, "substrings");
  for (const bad of ["(cn=a", "(&)", "((cn=a))", "(cn=a)(sn=b)", "(cn=\\zz)", "(=a)", "(cn=a)b"]) {
    assert.throws(() => parseFilter(bad), FilterSyntaxError, bad);
  }
  const deep = "(!".repeat(MAX_FILTER_DEPTH + 5) + "(cn=a)" + ")".repeat(MAX_FILTER_DEPTH + 5);
  assert.throws(() => parseFilter(deep), /nested deeper/);
  const ok = "(!".repeat(MAX_FILTER_DEPTH - 1) + "(cn=a)" + ")".repeat(MAX_FILTER_DEPTH - 1);
  assert.equal(parseFilter(ok).type, "not");
});

Deno.test("garbage: random filters and BER give typed errors only", () => {
  const random = prng(23);
  const alphabet = "()&|!=*~<>\\acn0 9";
  for (let i = 0; i < 20_000; i++) {
    let s = "";
    for (let j = Math.floor(random() * 20); j > 0; j--) {
      s += alphabet[Math.floor(random() * alphabet.length)];
    }
    try {
      parseFilter(s);
    } catch (e) {
      assert.ok(e instanceof FilterSyntaxError, `${JSON.stringify(s)}: ${e}`);
    }
    const ber = Uint8Array.from(
      { length: Math.floor(random() * 30) + 1 },
      () => Math.floor(random() * 256),
    );
    if (i % 2 === 0) ber[0] = 0x30;
    try {
      decodeMessage(ber);
    } catch (e) {
      assert.ok(e instanceof LdapProtocolError, String(e));
    }
  }
});

Deno.test({
  name: "a server sending garbage is an LdapProtocolError, never a hang",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      await withFakePeer(async (conn) => {
        await conn.recv(100);
        await conn.send(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])); // id 1, no operation
        await conn.recv(100);
      }, async (port) => {
        const ldap = await LdapClient.connect({ port });
        await assert.rejects(withTimeout(2, () => ldap.bind("cn=x", "y")), LdapProtocolError);
        await ldap.unbind();
      });
    }),
});

ldapTest(
  "a frozen server costs an operation its response deadline, then works again",
  async (s) => {
    const ldap = await LdapClient.connect({ port: s.port, responseTimeoutSeconds: 0.3 });
    // Bounded even when the client is wrong: thawed after 5 s, the assertion below fails.
    const thaw = setTimeout(() => Deno.kill(s.pid, "SIGCONT"), 5000);
    try {
      await ldap.bind(s.adminDn, s.adminPassword);
      await freezeProcess(s.pid);
      const t0 = performance.now();
      await assert.rejects(ldap.search(s.base, "(objectClass=*)"), TimeoutError);
      const took = performance.now() - t0;
      assert.ok(took < 3000, `a frozen server held the search ${took.toFixed(0)} ms`);
    } finally {
      clearTimeout(thaw);
      Deno.kill(s.pid, "SIGCONT");
    }
    // The abandoned search's late answer (if any) is skipped: the connection goes on.
    await ldap.bind(s.adminDn, s.adminPassword);
    await ldap.unbind();
  },
);

Deno.test({
  name: "a server that accepts and never answers: the bind ends at responseTimeoutSeconds",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      await withFakePeer(async (conn) => {
        await conn.recv(1000); // reads the bind, never answers
        await conn.recv(1000);
      }, async (port) => {
        const ldap = await LdapClient.connect({ port, responseTimeoutSeconds: 0.2 });
        await assert.rejects(ldap.bind("cn=x", "y"), TimeoutError);
        await ldap.unbind();
      });
    }),
});

servers.finish();
