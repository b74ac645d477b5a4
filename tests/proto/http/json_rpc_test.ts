/** JSON-RPC 2.0: the handler with curl as the client, and our client against the handler. */
import assert from "node:assert/strict";
import {
  HttpError,
  HttpServer,
  JsonRpcClient,
  JsonRpcError,
  JsonRpcErrorCode,
  jsonRpcHandler,
  sleep,
  spawn,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { curl, curlAvailable } from "./_curl.ts";

const hasCurl = curlAvailable();
const ci = Deno.env.get("CI") === "true";

async function serve() {
  const notified: unknown[] = [];
  const failures: unknown[] = [];
  const server = new HttpServer();
  server.push(jsonRpcHandler("/rpc", {
    subtract: (params) => {
      if (Array.isArray(params)) return params[0] - params[1];
      const p = params as { minuend?: number; subtrahend?: number };
      if (typeof p?.minuend !== "number" || typeof p?.subtrahend !== "number") {
        throw new JsonRpcError(JsonRpcErrorCode.InvalidParams, "Invalid params", params);
      }
      return p.minuend - p.subtrahend;
    },
    sum: (params) => (params as number[]).reduce((a, b) => a + b, 0),
    update: (params) => void notified.push(params),
    notify_hello: (params) => void notified.push(params),
    get_data: () => ["hello", 5],
    broken: () => {
      throw new Error("database password is hunter2");
    },
    slow: async () => {
      await sleep(5);
      return "late";
    },
    teapot: () => {
      throw new JsonRpcError(418, "I'm a teapot", { brew: "later" });
    },
  }, { maxBatch: 10, onError: (e) => failures.push(e) }));
  await spawn(() => server.listen("127.0.0.1:0")).join();
  return {
    url: `${server.url}/rpc`,
    notified,
    failures,
    close: (graceSeconds?: number) => spawn(() => server.close({ graceSeconds })).join(),
  };
}

const post = (url: string, body: string) =>
  curl("-H", "Content-Type: application/json", "--data-binary", body, url);

Deno.test({
  name: `the specification's examples, sent by curl${hasCurl || ci ? "" : " (skipped: no curl)"}`,
  ignore: !hasCurl && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await serve();
    const json = async (body: string) => {
      const r = await post(s.url, body);
      return r.status === 204 ? "204" : JSON.parse(r.body);
    };
    try {
      assert.deepEqual(
        await json('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}'),
        { jsonrpc: "2.0", id: 1, result: 19 },
      );
      assert.deepEqual(
        await json(
          '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        ),
        { jsonrpc: "2.0", id: 3, result: 19 },
      );
      assert.equal(
        await json('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}'),
        "204",
      );
      assert.deepEqual(s.notified, [[1, 2, 3, 4, 5]]);
      assert.deepEqual(await json('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}'), {
        jsonrpc: "2.0",
        id: "1",
        error: { code: -32601, message: "Method not found", data: "foobar" },
      });
      assert.deepEqual(await json('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'), {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32700, message: "Parse error" },
      });
      assert.deepEqual(await json('{"jsonrpc": "2.0", "method": 1, "params": "bar"}'), {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "Invalid Request" },
      });
      assert.equal((await json("[]")).error.code, -32600);
      assert.deepEqual(
        (await json("[1,2,3]")).map((r: { error: { code: number } }) => r.error.code),
        [-32600, -32600, -32600],
      );
      // The mixed batch of the specification.
      const batch = await json(`[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
      ]`);
      assert.deepEqual(batch, [
        { jsonrpc: "2.0", id: "1", result: 7 },
        { jsonrpc: "2.0", id: "2", result: 19 },
        { jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request" } },
        {
          jsonrpc: "2.0",
          id: "5",
          error: { code: -32601, message: "Method not found", data: "foo.get" },
        },
        { jsonrpc: "2.0", id: "9", result: ["hello", 5] },
      ]);
      assert.equal(
        await json(
          '[{"jsonrpc": "2.0", "method": "notify_hello", "params": [1]}, {"jsonrpc": "2.0", "method": "update"}]',
        ),
        "204",
      );
      // Typed errors keep their code and data; other failures say nothing of themselves.
      assert.deepEqual(await json('{"jsonrpc":"2.0","method":"teapot","id":7}'), {
        jsonrpc: "2.0",
        id: 7,
        error: { code: 418, message: "I'm a teapot", data: { brew: "later" } },
      });
      const broken = await post(s.url, '{"jsonrpc":"2.0","method":"broken","id":8}');
      assert.deepEqual(JSON.parse(broken.body).error, { code: -32603, message: "Internal error" });
      assert.doesNotMatch(broken.body, /hunter2/);
      assert.equal(s.failures.length, 1);
      // Prototype names are not methods; neither are rpc.* names.
      for (
        const name of ["constructor", "__proto__", "toString", "rpc.discover", "hasOwnProperty"]
      ) {
        assert.equal(
          (await json(`{"jsonrpc":"2.0","method":"${name}","id":1}`)).error.code,
          -32601,
        );
      }
      // Not POST: 405 with Allow. Too large a batch: one error. Not UTF-8: a parse error.
      const get = await curl(s.url);
      assert.equal(get.status, 405);
      assert.match(get.heads, /^allow: POST\r$/mi);
      const many = JSON.stringify(
        Array.from(
          { length: 11 },
          (_, i) => ({ jsonrpc: "2.0", method: "sum", params: [i], id: i }),
        ),
      );
      assert.equal((await json(many)).error.code, -32600);
      const dir = await Deno.makeTempDir();
      await Deno.writeFile(`${dir}/bad`, Uint8Array.of(0x5b, 0xff, 0x5d));
      const bad = await curl("--data-binary", `@${dir}/bad`, s.url);
      await Deno.remove(dir, { recursive: true });
      assert.equal(JSON.parse(bad.body).error.code, -32700);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "JsonRpcClient: calls, notifications, batches, typed errors, interruption",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await serve();
    try {
      await spawn(async () => {
        const rpc = new JsonRpcClient(s.url);
        try {
          assert.equal(await rpc.call("subtract", [42, 23]), 19);
          assert.equal(await rpc.call("subtract", { minuend: 5, subtrahend: 7 }), -2);
          await rpc.notify("update", ["x"]);
          assert.deepEqual(s.notified, [["x"]]);
          await assert.rejects(
            rpc.call("subtract", { minuend: "a" }),
            (e: unknown) =>
              e instanceof JsonRpcError && e.code === JsonRpcErrorCode.InvalidParams &&
              (e.data as { minuend: string }).minuend === "a",
          );
          await assert.rejects(
            rpc.call("nope"),
            (e: unknown) => e instanceof JsonRpcError && e.code === -32601,
          );
          const results = await rpc.batch([
            { method: "sum", params: [1, 2, 3] },
            { method: "update", params: ["y"], notification: true },
            { method: "teapot" },
            { method: "get_data" },
          ]);
          assert.equal(results[0], 6);
          assert.equal(results[1], undefined);
          assert.ok(results[2] instanceof JsonRpcError && results[2].code === 418);
          assert.deepEqual(results[3], ["hello", 5]);
          assert.deepEqual(await rpc.batch([{ method: "update", notification: true }]), [
            undefined,
          ]);
          await assert.rejects(
            rpc.batch(Array.from({ length: 11 }, () => ({ method: "sum", params: [1] }))),
            (e: unknown) => e instanceof JsonRpcError && e.code === -32600,
          );
          // Interruption point: a slow call gives up, the client goes on.
          await assert.rejects(withTimeout(0.2, () => rpc.call("slow")), TimeoutError);
          assert.equal(await rpc.call("sum", [2, 2]), 4);
          // Not a JSON-RPC endpoint: an HttpError with the status.
          const elsewhere = new JsonRpcClient(s.url.replace("/rpc", "/nothing"));
          await assert.rejects(
            elsewhere.call("x"),
            (e: unknown) => e instanceof HttpError && e.status === 404,
          );
          elsewhere.close();
        } finally {
          rpc.close();
        }
      }).join();
    } finally {
      await s.close(0); // the abandoned slow call's handler is still asleep
    }
  },
});
