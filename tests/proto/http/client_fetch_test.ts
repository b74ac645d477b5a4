/**
 * The client as users expect it: https out of the box (a test CA, ALPN), redirects
 * (a chain, 303, credentials across origins, limits), `get(url)`, and `shrapnelFetch`
 * with the standard signature, against our own server and Deno.serve on loopback.
 */
import assert from "node:assert/strict";
import { Interrupted, TimeoutError } from "../../../core/errors.ts";
import { sleep } from "../../../core/sleep.ts";
import { Event as ShrapnelEvent } from "../../../core/sync/event.ts";
import { withTimeout } from "../../../mod.ts";
import { TlsError } from "../../../net/deno_socket.ts";
import {
  fetchHandler,
  get,
  HttpClient,
  type HttpRequest,
  HttpServer,
  shrapnelFetch,
  TooManyRedirectsError,
} from "../../../proto/http/mod.ts";
import { socketTest } from "../../net/_backends.ts";
import { testCertificate } from "./_test_ca.ts";

const tls = await testCertificate();
const ci = Deno.env.get("CI") === "true";

/** A server with a redirect chain and echo routes; `other` is a second origin's URL. */
function redirectServer(other = () => ""): HttpServer {
  const server = new HttpServer({ onError: () => {} });
  const go = (status: number, to: string) => (r: HttpRequest) =>
    r.respond(status, "", { location: to });
  server.route("GET", "/r1", go(302, "/r2"));
  server.route("GET", "/r2", go(301, "r3?x=1"));
  server.route("GET", "/r3", go(307, "/final"));
  server.route("*", "/final", async (r) => {
    const body = await r.body.text();
    await r.respond(200, JSON.stringify({ method: r.method, query: r.query.get("x"), body }), {
      "content-type": "application/json",
    });
  });
  server.route("*", "/loop", go(302, "/loop"));
  server.route("POST", "/see-other", go(303, "/final"));
  server.route("POST", "/temporary", go(307, "/final?x=kept"));
  server.route("POST", "/found", go(302, "/final"));
  server.route("GET", "/same-origin", go(302, "/headers"));
  server.route(
    "GET",
    "/cross-origin",
    (r) => r.respond(302, "", { location: `${other()}/headers` }),
  );
  server.route("GET", "/headers", (r) =>
    r.respond(
      200,
      JSON.stringify({
        authorization: r.headers.get("authorization"),
        cookie: r.headers.get("cookie"),
        custom: r.headers.get("x-custom"),
      }),
    ));
  server.route("GET", "/slow", async (r) => {
    await sleep(5);
    await r.respond(200, "late");
  });
  return server;
}

socketTest("redirects: a chain followed to its end, url and redirected told, limits", async () => {
  const server = redirectServer();
  server.listen("127.0.0.1:0");
  const client = new HttpClient();
  try {
    const response = await client.request(`${server.url}/r1`);
    assert.equal(response.status, 200);
    assert.equal(response.url, `${server.url}/final`);
    assert.equal(response.redirected, true);
    assert.deepEqual(await response.json(), { method: "GET", query: null, body: "" });

    const manual = await client.request(`${server.url}/r1`, { redirect: "manual" });
    assert.equal(manual.status, 302);
    assert.equal(manual.headers.get("location"), "/r2");
    await manual.release();

    await assert.rejects(client.request(`${server.url}/loop`), TooManyRedirectsError);
    const few = new HttpClient({ maxRedirects: 2 });
    await assert.rejects(
      few.request(`${server.url}/r1`),
      (e) => e instanceof TooManyRedirectsError && e.limit === 2,
    );
    few.close();
    const none = new HttpClient({ maxRedirects: 0 });
    assert.equal((await none.request(`${server.url}/r1`)).status, 302);
    none.close();
    // Redirects' bodies were skipped, their connections reused: one connection in all.
    assert.deepEqual(client.statistics()[server.url], { idle: 1, open: 1 });
  } finally {
    client.close();
    await server.close();
  }
});

socketTest(
  "redirects: 303 and a redirected POST become GET; 307 keeps method and body",
  async () => {
    const server = redirectServer();
    server.listen("127.0.0.1:0");
    const client = new HttpClient();
    try {
      const post = { method: "POST", body: "payload", headers: { "content-type": "text/plain" } };
      const seeOther = await client.request(`${server.url}/see-other`, post);
      assert.deepEqual(await seeOther.json(), { method: "GET", query: null, body: "" });
      const found = await client.request(`${server.url}/found`, post);
      assert.deepEqual(await found.json(), { method: "GET", query: null, body: "" });
      const temporary = await client.request(`${server.url}/temporary`, post);
      assert.deepEqual(await temporary.json(), { method: "POST", query: "kept", body: "payload" });
    } finally {
      client.close();
      await server.close();
    }
  },
);

socketTest("redirects: credentials go to the same origin only", async () => {
  const other = redirectServer();
  other.listen("127.0.0.1:0");
  const server = redirectServer(() => other.url);
  server.listen("127.0.0.1:0");
  const client = new HttpClient();
  const headers = { authorization: "Bearer secret", cookie: "session=1", "x-custom": "kept" };
  try {
    const same = await client.request(`${server.url}/same-origin`, { headers });
    assert.deepEqual(await same.json(), {
      authorization: "Bearer secret",
      cookie: "session=1",
      custom: "kept",
    });
    const cross = await client.request(`${server.url}/cross-origin`, { headers });
    assert.equal(cross.url, `${other.url}/headers`);
    assert.deepEqual(await cross.json(), { authorization: null, cookie: null, custom: "kept" });
  } finally {
    client.close();
    await server.close();
    await other.close();
  }
});

socketTest(
  "get(url): status, headers and body in one call; interruptible, nothing left in the pool",
  async () => {
    const server = redirectServer();
    server.listen("127.0.0.1:0");
    const client = new HttpClient();
    try {
      const result = await get(`${server.url}/r1`, { client });
      assert.equal(result.status, 200);
      assert.equal(result.ok, true);
      assert.equal(result.headers.get("content-type"), "application/json");
      assert.equal(result.url, `${server.url}/final`);
      assert.deepEqual(result.json(), { method: "GET", query: null, body: "" });
      const t0 = performance.now();
      await assert.rejects(
        withTimeout(0.2, () => get(`${server.url}/slow`, { client })),
        TimeoutError,
      );
      assert.ok(performance.now() - t0 < 2000);
      assert.deepEqual(
        client.statistics()[server.url],
        { idle: 0, open: 0 },
        "the interrupted request's connection was dropped, not pooled",
      );
      assert.equal((await get(`${server.url}/final`, { client })).status, 200);
    } finally {
      client.close();
      await server.close({ graceSeconds: 0 }); // the abandoned /slow handler is still asleep
    }
  },
);

Deno.test({
  name: `https out of the box: a test CA, verification, ALPN, a redirect chain${
    tls === null && !ci ? " (skipped: no openssl)" : ""
  }`,
  ignore: tls === null && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (tls === null) throw new Error("openssl is missing (CI must install it)");
    const { inThread } = await import("../../_helpers.ts");
    await inThread(async () => {
      const server = redirectServer();
      server.listenTls("127.0.0.1:0", {
        cert: tls.cert,
        key: tls.key,
        alpnProtocols: ["http/1.1"],
      });
      const port = server.address.family === "unix" ? 0 : server.address.port;
      const client = new HttpClient({ caCerts: [tls.ca] });
      try {
        for (const host of ["localhost", "127.0.0.1"]) {
          const response = await client.request(`https://${host}:${port}/r1`);
          assert.equal(response.status, 200, host);
          assert.equal(response.url, `https://${host}:${port}/final`);
          assert.deepEqual(await response.json(), { method: "GET", query: null, body: "" });
        }
        const result = await get(`https://localhost:${port}/r1`, { client });
        assert.equal(result.text(), '{"method":"GET","query":null,"body":""}');
        const fetched = await shrapnelFetch(`https://localhost:${port}/r1`, {
          shrapnelClient: client,
        });
        assert.equal(fetched.status, 200);
        assert.equal(fetched.redirected, true);
        await fetched.text();
        // Not trusted without the test CA: the handshake fails, typed.
        const stranger = new HttpClient();
        await assert.rejects(stranger.request(`https://localhost:${port}/final`), TlsError);
        stranger.close();
      } finally {
        client.close();
        await server.close();
      }
    });
  },
});

socketTest("shrapnelFetch: fetch's signature and Response, through our pool", async () => {
  const gate = new ShrapnelEvent();
  const server = new HttpServer({ onError: () => {} });
  server.route("GET", "/r", (r) => r.respond(302, "", { location: "/json" }));
  server.push(fetchHandler(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/json") {
      return Response.json({ hello: "world" }, { headers: { "set-cookie": "a=1" } });
    }
    if (path === "/echo") {
      return new Response(await request.text(), {
        headers: {
          "x-method": request.method,
          "x-type": request.headers.get("content-type") ?? "",
        },
      });
    }
    if (path === "/drip") {
      return new Response(
        new ReadableStream({
          async pull(controller) {
            controller.enqueue(new TextEncoder().encode("first;"));
            await gate.wait();
            controller.enqueue(new TextEncoder().encode("second"));
            controller.close();
          },
        }),
      );
    }
    if (path === "/slow") {
      await sleep(5);
      return new Response("late");
    }
    return new Response("nothing", { status: 404 });
  }));
  server.listen("127.0.0.1:0");
  const client = new HttpClient();
  const init = { shrapnelClient: client };
  try {
    const json = await shrapnelFetch(`${server.url}/json`, init);
    assert.equal(json.status, 200);
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.deepEqual(json.headers.getSetCookie(), ["a=1"]);
    assert.deepEqual(await json.json(), { hello: "world" });

    const posted = await shrapnelFetch(
      new Request(`${server.url}/echo`, { method: "PUT", body: "text body" }),
      init,
    );
    assert.equal(await posted.text(), "text body");
    assert.equal(posted.headers.get("x-method"), "PUT");
    assert.equal(posted.headers.get("x-type"), "text/plain;charset=UTF-8");

    const streamed = await shrapnelFetch(`${server.url}/echo`, {
      ...init,
      method: "POST",
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("streamed "));
          controller.enqueue(new TextEncoder().encode("upload"));
          controller.close();
        },
      }),
    });
    assert.equal(await streamed.text(), "streamed upload");

    // The body is read as it arrives: the first piece before the server produces the second.
    const drip = await shrapnelFetch(`${server.url}/drip`, init);
    const reader = drip.body!.getReader();
    assert.equal(
      new TextDecoder().decode((await withTimeout(5, () => reader.read())).value),
      "first;",
    );
    gate.set();
    let rest = "";
    for (;;) {
      const { done, value } = await withTimeout(5, () => reader.read());
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.equal(rest, "second");

    const followed = await shrapnelFetch(`${server.url}/r`, init);
    assert.equal(followed.url, `${server.url}/json`);
    assert.equal(followed.redirected, true);
    await followed.body!.cancel();
    const manual = await shrapnelFetch(`${server.url}/r`, { ...init, redirect: "manual" });
    assert.equal(manual.status, 302);
    assert.equal(manual.headers.get("location"), "/json");
    await assert.rejects(
      shrapnelFetch(`${server.url}/r`, { ...init, redirect: "error" }),
      TypeError,
    );

    const head = await shrapnelFetch(`${server.url}/json`, { ...init, method: "HEAD" });
    assert.equal(head.body, null);

    // An aborted signal rejects with its reason, promptly.
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const t0 = performance.now();
    await assert.rejects(
      shrapnelFetch(`${server.url}/slow`, { ...init, signal: controller.signal }),
      (e) => e instanceof DOMException && e.name === "AbortError",
    );
    assert.ok(performance.now() - t0 < 2000);
    // Interruption reaches it too, like any blocking call.
    await assert.rejects(
      withTimeout(0.1, () => shrapnelFetch(`${server.url}/slow`, init)),
      Interrupted,
    );

    // Everything read to its end went back to the pool: at most the two interrupted ones
    // were dropped, and nothing is left open beyond what is idle.
    const stats = client.statistics()[server.url];
    assert.equal(stats.open, stats.idle);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test({
  name:
    `https against another implementation: Deno.serve with the test CA, a cross-scheme redirect chain${
      tls === null && !ci ? " (skipped: no openssl)" : ""
    }`,
  ignore: tls === null && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (tls === null) throw new Error("openssl is missing (CI must install it)");
    const { inThread } = await import("../../_helpers.ts");
    // An http server sending everyone to https; the https one redirecting twice more.
    let httpsPort = 0;
    const secure = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: tls.cert,
      key: tls.key,
      onListen: () => {},
    }, (request) => {
      const url = new URL(request.url);
      if (url.pathname === "/a") return Response.redirect(`https://localhost:${httpsPort}/b`, 302);
      if (url.pathname === "/b") {
        return new Response(null, { status: 303, headers: { location: "/done?from=b" } });
      }
      return Response.json({
        path: url.pathname + url.search,
        method: request.method,
        authorization: request.headers.get("authorization"),
      });
    });
    httpsPort = secure.addr.port;
    const plain = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => Response.redirect(`https://localhost:${httpsPort}/a`, 301),
    );
    try {
      await inThread(async () => {
        const client = new HttpClient({ caCerts: [tls.ca] });
        try {
          const response = await client.request(`http://127.0.0.1:${plain.addr.port}/start`, {
            headers: { authorization: "Bearer not-for-others" },
          });
          assert.equal(response.status, 200);
          assert.equal(response.url, `https://localhost:${httpsPort}/done?from=b`);
          assert.deepEqual(await response.json(), {
            path: "/done?from=b",
            method: "GET",
            authorization: null, // another origin from the first hop on
          });
          const page = await get(`https://localhost:${httpsPort}/a`, { client });
          assert.equal(page.status, 200);
          assert.equal((page.json() as { path: string }).path, "/done?from=b");
          const fetched = await shrapnelFetch(`https://127.0.0.1:${httpsPort}/x?y=1`, {
            shrapnelClient: client,
            headers: { authorization: "Bearer mine" },
          });
          assert.deepEqual(await fetched.json(), {
            path: "/x?y=1",
            method: "GET",
            authorization: "Bearer mine",
          });
        } finally {
          client.close();
        }
      });
    } finally {
      await secure.shutdown();
      await plain.shutdown();
    }
  },
});
