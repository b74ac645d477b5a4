/** Basic and Digest authentication (RFC 7617, RFC 7616 with SHA-256), curl as the client. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  authenticatedUser,
  BasicAuth,
  DigestAuth,
  HttpClient,
  HttpServer,
  parseDigestCredentials,
  protect,
  sleep,
  spawn,
} from "../../../mod.ts";
import { prng } from "../../_helpers.ts";
import { curl, curlAvailable } from "./_curl.ts";

const hasCurl = curlAvailable();
const ci = Deno.env.get("CI") === "true";

function curlTest(name: string, fn: () => Promise<void>) {
  Deno.test({
    name: `${name}${hasCurl || ci ? "" : " (skipped: no curl; apt-get install curl)"}`,
    ignore: !hasCurl && !ci,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

/** A server whose /secret is behind `auth`; it records the Authorization fields it saw. */
async function serve(auth: BasicAuth | DigestAuth) {
  const seen: string[] = [];
  const server = new HttpServer();
  server.push({
    match: (request) => {
      const field = request.headers.get("authorization");
      if (field !== null) seen.push(field);
      return false;
    },
    handle() {},
  });
  server.push(protect({
    match: (request) => request.path.startsWith("/secret"),
    handle: (request) => request.respond(200, `hello ${authenticatedUser(request)}\n`),
  }, auth));
  await spawn(() => server.listen("127.0.0.1:0")).join();
  return {
    url: server.url,
    seen,
    close: () => spawn(() => server.close()).join(),
  };
}

curlTest(
  "basic: curl -u gets in; wrong, unknown and missing credentials get the challenge",
  async () => {
    const s = await serve(
      new BasicAuth({ realm: 'the "admin" area', users: { ann: "secret", "bö": "pässwörd" } }),
    );
    try {
      const ok = await curl("-u", "ann:secret", `${s.url}/secret`);
      assert.equal(ok.status, 200);
      assert.equal(ok.body, "hello ann\n");
      assert.equal((await curl("-u", "bö:pässwörd", `${s.url}/secret`)).body, "hello bö\n");
      for (const args of [["-u", "ann:wrong"], ["-u", "bob:secret"], ["-u", "ann:"], []]) {
        const no = await curl(...args, `${s.url}/secret`);
        assert.equal(no.status, 401, args.join(" "));
        assert.match(
          no.heads,
          /^www-authenticate: Basic realm="the \\"admin\\" area", charset="UTF-8"\r$/mi,
        );
      }
      // Not base64, not UTF-8, no colon: no credentials, never an error.
      for (
        const bad of [
          "Basic !!!",
          "Basic " + btoa("\xff\xfe:x"),
          "Basic " + btoa("nocolon"),
          "Basic",
        ]
      ) {
        assert.equal((await curl("-H", `Authorization: ${bad}`, `${s.url}/secret`)).status, 401);
      }
    } finally {
      await s.close();
    }
  },
);

curlTest("digest SHA-256: curl --digest gets in; a wrong password does not", async () => {
  const s = await serve(new DigestAuth({ realm: "api", users: { ann: "secret" } }));
  try {
    const ok = await curl("--digest", "-u", "ann:secret", `${s.url}/secret?x=1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "hello ann\n");
    assert.match(
      ok.heads,
      /^www-authenticate: Digest realm="api", qop="auth", algorithm=SHA-256, nonce="[^"]+", opaque="[^"]+", charset=UTF-8\r$/mi,
    );
    const used = parseDigestCredentials(s.seen.at(-1)!)!;
    assert.equal(used.get("algorithm"), "SHA-256");
    assert.equal(used.get("uri"), "/secret?x=1");
    assert.equal((await curl("--digest", "-u", "ann:wrong", `${s.url}/secret`)).status, 401);
    assert.equal((await curl("--digest", "-u", "bob:secret", `${s.url}/secret`)).status, 401);
  } finally {
    await s.close();
  }
});

curlTest(
  "digest: a replayed request, another URI's response, a forged nonce are refused",
  async () => {
    const s = await serve(new DigestAuth({ realm: "api", users: { ann: "secret" } }));
    try {
      assert.equal((await curl("--digest", "-u", "ann:secret", `${s.url}/secret`)).status, 200);
      const captured = s.seen.at(-1)!;
      // The same Authorization field again: its nonce count does not grow.
      assert.equal((await curl("-H", `Authorization: ${captured}`, `${s.url}/secret`)).status, 401);
      // Its response is for /secret, not /secret/other.
      assert.equal(
        (await curl("-H", `Authorization: ${captured}`, `${s.url}/secret/other`)).status,
        401,
      );
      // A nonce we did not sign.
      const forged = captured.replace(
        /nonce="([^".]+)\.[^"]+"/,
        'nonce="$1.AAAAAAAAAAAAAAAAAAAAAA"',
      );
      assert.notEqual(forged, captured);
      assert.equal((await curl("-H", `Authorization: ${forged}`, `${s.url}/secret`)).status, 401);
    } finally {
      await s.close();
    }
  },
);

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** An Authorization field computed here (as RFC 7616 section 3.4.1 says) for `nonce`. */
function digestField(nonce: string, opaque: string, uri: string, nc: string, password = "secret") {
  const ha1 = sha256(`ann:api:${password}`), ha2 = sha256(`GET:${uri}`);
  const response = sha256(`${ha1}:${nonce}:${nc}:c0ffee:auth:${ha2}`);
  return `Digest username="ann", realm="api", nonce="${nonce}", uri="${uri}", ` +
    `algorithm=SHA-256, qop=auth, nc=${nc}, cnonce="c0ffee", response="${response}", opaque="${opaque}"`;
}

curlTest("digest: nonce counts must grow; an expired nonce gets stale=true", async () => {
  const s = await serve(
    new DigestAuth({ realm: "api", users: { ann: "secret" }, nonceLifetime: 3 }),
  );
  try {
    const challenge = await curl(`${s.url}/secret`);
    const nonce = challenge.heads.match(/nonce="([^"]+)"/)![1];
    const opaque = challenge.heads.match(/opaque="([^"]+)"/)![1];
    const send = (nc: string, password?: string) =>
      curl(
        "-H",
        `Authorization: ${digestField(nonce, opaque, "/secret", nc, password)}`,
        `${s.url}/secret`,
      );
    assert.equal((await send("00000001")).status, 200);
    assert.equal((await send("00000002")).status, 200);
    assert.equal((await send("00000002")).status, 401); // replayed count
    assert.equal((await send("00000001")).status, 401); // older count
    assert.equal((await send("00000003", "wrong")).status, 401);
    assert.equal((await send("00000004")).status, 200);
    await new Promise((r) => setTimeout(r, 3200));
    const stale = await send("00000005");
    assert.equal(stale.status, 401);
    assert.match(stale.heads, /^www-authenticate: Digest .*, stale=true\r$/mi);
    // curl starts over with the fresh nonce by itself.
    assert.equal((await curl("--digest", "-u", "ann:secret", `${s.url}/secret`)).status, 200);
  } finally {
    await s.close();
  }
});

Deno.test({
  name: "hostile Authorization fields: 401, never a failure (3000 random ones)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const digest = new DigestAuth({ realm: "api", users: { ann: "secret" } });
    const s = await serve(digest);
    const random = prng(5);
    const alphabet = 'Digest Basic username=" \\,nc=00000001 realm=api qop=auth response=ab=,"\t';
    try {
      await spawn(async () => {
        const client = new HttpClient();
        try {
          for (let i = 0; i < 3000; i++) {
            const field = Array.from(
              { length: Math.floor(random() * 120) },
              () => alphabet[Math.floor(random() * alphabet.length)],
            ).join("").trim();
            const r = await client.request(`${s.url}/secret`, {
              headers: field === "" ? {} : { authorization: field },
            });
            await r.release();
            assert.equal(r.status, 401, field);
          }
        } finally {
          client.close();
        }
      }).join();
    } finally {
      await s.close();
    }
    assert.equal(parseDigestCredentials('Digest a="1", a="2"'), null);
    assert.equal(parseDigestCredentials('Digest a="unterminated'), null);
    assert.deepEqual(
      [...parseDigestCredentials('Digest Username="a\\"b", nc=00000001,qop=auth')!],
      [["username", 'a"b'], ["nc", "00000001"], ["qop", "auth"]],
    );
  },
});

Deno.test({
  name: "digest: evicting a nonce's count (maxNonces) never lets its replay in again",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await serve(new DigestAuth({ realm: "api", users: { ann: "secret" }, maxNonces: 3 }));
    try {
      await spawn(async () => {
        const client = new HttpClient();
        const get = async (authorization?: string) => {
          const r = await client.request(`${s.url}/secret`, {
            headers: authorization === undefined ? {} : { authorization },
          });
          await r.release();
          return r;
        };
        const fresh = async () => {
          await sleep(0.003); // nonces of distinct milliseconds
          const field = (await get()).headers.get("www-authenticate")!;
          return {
            nonce: /nonce="([^"]+)"/.exec(field)![1],
            opaque: /opaque="([^"]+)"/.exec(field)![1],
          };
        };
        try {
          const victim = await fresh();
          const captured = digestField(victim.nonce, victim.opaque, "/secret", "00000001");
          assert.equal((await get(captured)).status, 200);
          assert.equal((await get(captured)).status, 401);
          // Another user's logins with three fresh nonces push the victim's count out.
          const others = [];
          for (let i = 0; i < 3; i++) {
            const n = await fresh();
            others.push(n);
            assert.equal(
              (await get(digestField(n.nonce, n.opaque, "/secret", "00000001"))).status,
              200,
            );
          }
          const replay = await get(captured);
          assert.equal(replay.status, 401);
          assert.match(replay.headers.get("www-authenticate")!, /stale=true/);
          // Nonces issued after the evicted one keep working, and so does a fresh one.
          const last = others[2];
          assert.equal(
            (await get(digestField(last.nonce, last.opaque, "/secret", "00000002"))).status,
            200,
          );
          const n = await fresh();
          assert.equal(
            (await get(digestField(n.nonce, n.opaque, "/secret", "00000001"))).status,
            200,
          );
        } finally {
          client.close();
        }
      }).join();
    } finally {
      await s.close();
    }
  },
});
