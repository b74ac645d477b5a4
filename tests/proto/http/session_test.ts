/** Signed cookie sessions, with curl and its cookie jar as the browser. */
import assert from "node:assert/strict";
import { CookieSessions, HttpServer, spawn } from "../../../mod.ts";
import { curl, curlAvailable } from "./_curl.ts";

const hasCurl = curlAvailable();
const ci = Deno.env.get("CI") === "true";
const KEY = "k".repeat(32), NEW_KEY = "n".repeat(32);

async function serve(sessions: CookieSessions) {
  const server = new HttpServer();
  server.route("GET", "/login", (request) => {
    sessions.write(request, { user: request.query.get("user"), visits: 0 });
    return request.respond(200, "logged in\n");
  });
  server.route("GET", "/me", (request) => {
    const data = sessions.read(request);
    if (data !== null) sessions.write(request, { ...data, visits: Number(data.visits) + 1 });
    return request.respond(200, data === null ? "nobody\n" : `${data.user} ${data.visits}\n`);
  });
  server.route("GET", "/logout", (request) => {
    sessions.clear(request);
    return request.respond(200, "bye\n");
  });
  await spawn(() => server.listen("127.0.0.1:0")).join();
  return { url: server.url, close: () => spawn(() => server.close()).join() };
}

Deno.test({
  name: `a session through curl's cookie jar: set, read, tampered, rotated key, expired, cleared${
    hasCurl || ci ? "" : " (skipped: no curl)"
  }`,
  ignore: !hasCurl && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const jar = `${dir}/jar`;
    // Plain http here, so not Secure (curl, like browsers, keeps Secure cookies for https).
    const s = await serve(new CookieSessions({ secret: KEY, secure: false, maxAge: 3 }));
    try {
      const login = await curl("-c", jar, `${s.url}/login?user=ann`);
      assert.match(
        login.heads,
        /^set-cookie: session=[\w-]+\.[\w-]+; Max-Age=3; Path=\/; HttpOnly; SameSite=Lax\r$/mi,
      );
      assert.equal((await curl("-b", jar, "-c", jar, `${s.url}/me`)).body, "ann 0\n");
      assert.equal((await curl("-b", jar, "-c", jar, `${s.url}/me`)).body, "ann 1\n");
      // A changed cookie (user "bob", same signature) is no session.
      const cookie = (await Deno.readTextFile(jar)).match(/session\t(\S+)/)![1];
      const [payload, mac] = cookie.split(".");
      const forged = btoa(atob(payload.replace(/-/g, "+").replace(/_/g, "/")).replace("ann", "bob"))
        .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      assert.notEqual(forged, payload);
      assert.equal(
        (await curl("-H", `Cookie: session=${forged}.${mac}`, `${s.url}/me`)).body,
        "nobody\n",
      );
      assert.equal(
        (await curl("-H", `Cookie: session=${payload}.x${mac}`, `${s.url}/me`)).body,
        "nobody\n",
      );
      assert.equal((await curl("-H", "Cookie: session=garbage", `${s.url}/me`)).body, "nobody\n");
      // Another server with the key rotated in still reads it; one with another key does not.
      const rotated = await serve(new CookieSessions({ secret: [NEW_KEY, KEY], secure: false }));
      const other = await serve(new CookieSessions({ secret: NEW_KEY, secure: false }));
      try {
        assert.equal((await curl("-b", jar, `${rotated.url}/me`)).body, "ann 2\n");
        assert.equal((await curl("-b", jar, `${other.url}/me`)).body, "nobody\n");
      } finally {
        await rotated.close();
        await other.close();
      }
      // Logging out clears the cookie from the jar.
      const bye = await curl("-b", jar, "-c", jar, `${s.url}/logout`);
      assert.match(bye.heads, /^set-cookie: session=; Max-Age=0; /mi);
      assert.equal((await curl("-b", jar, `${s.url}/me`)).body, "nobody\n");
      // A session expires maxAge seconds after its last write, even if its cookie is kept.
      await curl("-c", jar, `${s.url}/login?user=cat`);
      const kept = (await Deno.readTextFile(jar)).match(/session\t(\S+)/)![1];
      assert.equal((await curl("-H", `Cookie: session=${kept}`, `${s.url}/me`)).body, "cat 0\n");
      await new Promise((r) => setTimeout(r, 4100));
      assert.equal((await curl("-H", `Cookie: session=${kept}`, `${s.url}/me`)).body, "nobody\n");
    } finally {
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("defaults are Secure, HttpOnly, SameSite=Lax; weak keys and oversized data are refused", () => {
  const sessions = new CookieSessions({ secret: KEY });
  const fields: string[] = [];
  const request = { replyHeaders: { add: (_: string, v: string) => fields.push(v) } };
  sessions.write(request as never, { a: 1 });
  assert.match(fields[0], /; Max-Age=86400; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  assert.throws(() => new CookieSessions({ secret: "short" }), RangeError);
  assert.throws(
    () => new CookieSessions({ secret: KEY, sameSite: "None", secure: false }),
    TypeError,
  );
  assert.throws(() => sessions.write(request as never, { big: "x".repeat(5000) }), RangeError);
  // A session cookie is bound to its cookie name: one named otherwise does not pass.
  const other = new CookieSessions({ secret: KEY, cookieName: "other" });
  assert.equal(other.unseal(sessions.seal({ a: 1 })), null);
  for (const junk of ["", ".", "a.b", "....", "%%%.%%%", "eyJ9.eyJ9"]) {
    assert.equal(sessions.unseal(junk), null);
  }
});
