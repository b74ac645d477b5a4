/**
 * JSON-RPC 2.0 over HTTP: a handler serving a table of methods (single calls, batches,
 * notifications, the specification's error codes) and a matching client.
 *
 * @module
 */

import { awaitModule } from "../../core/_lazy_import.ts";
import { ShrapnelError } from "../../core/errors.ts";
import { HttpClient } from "./client.ts";
import { HttpError } from "./errors.ts";
import type { HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";
import { lazyHandler } from "./_lazy_handler.ts";

/** The handler's code, loaded by the first request of any JSON-RPC handler. */
let handlerModule: typeof import("./_json_rpc_handler.ts") | undefined;

/** The error codes the specification defines. */
export const JsonRpcErrorCode = {
  /** The body is not JSON. */
  ParseError: -32700,
  /** The JSON is not a request. */
  InvalidRequest: -32600,
  /** No such method. */
  MethodNotFound: -32601,
  /** The method does not take these parameters. */
  InvalidParams: -32602,
  /** The method failed for a reason of the server's own. */
  InternalError: -32603,
} as const;

/**
 * A JSON-RPC error: thrown by a method to answer with it (any integer `code`; -32768 to
 * -32000 are the specification's), and thrown by the client when the server answers
 * with one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonRpcError, JsonRpcErrorCode } from "./json_rpc.ts";
 * const e = new JsonRpcError(JsonRpcErrorCode.InvalidParams, "x must be a number", { x: "a" });
 * assert.equal(e.code, -32602);
 * assert.deepEqual(e.data, { x: "a" });
 * ```
 */
export class JsonRpcError extends ShrapnelError {
  /** The error code. */
  readonly code: number;
  /** Extra information, if any. */
  readonly data?: unknown;
  /**
   * Makes the error.
   * @param code an integer code
   * @param message a short description
   * @param data extra information (sent to the client: nothing secret)
   */
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/** A method: called with the request's params (an array, an object, or undefined). */
export type JsonRpcMethod = (params: unknown, request: HttpRequest) => unknown;

/** Options of {@linkcode jsonRpcHandler}. */
export interface JsonRpcHandlerOptions {
  /** Most calls in one batch (100); a larger batch is one Invalid Request error. */
  maxBatch?: number;
  /** Largest request body in bytes (1 MiB); larger is 413. */
  maxBytes?: number;
  /**
   * Called with a method's errors that are not JsonRpcErrors (the client gets -32603
   * "Internal error" without details); default: console.error.
   */
  onError?: (error: unknown, method: string) => void;
}

type Id = string | number | null;

interface Response {
  jsonrpc: "2.0";
  id: Id;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/**
 * Serves JSON-RPC 2.0 at `path` (POST): `methods` maps names to functions. A batch's
 * calls run one after the other, in order; notifications (no id) get no answer, and a
 * request of notifications only gets 204. Method names are looked up as own properties
 * only ("constructor", "__proto__" are unknown methods), and "rpc."-names are reserved.
 *
 * @example
 * ```ts ignore
 * server.push(jsonRpcHandler("/rpc", { add: ([a, b]: number[]) => a + b }));
 * ```
 */
export function jsonRpcHandler(
  path: string,
  methods: Record<string, JsonRpcMethod>,
  options: JsonRpcHandlerOptions = {},
): Handler {
  if (handlerModule !== undefined) return handlerModule.makeJsonRpcHandler(path, methods, options);
  return lazyHandler((request) => request.path === path, async () => {
    handlerModule ??= await awaitModule(
      () => import("./_json_rpc_handler.ts"),
      "the JSON-RPC handler",
    );
    return handlerModule.makeJsonRpcHandler(path, methods, options);
  });
}

/** One call of a {@linkcode JsonRpcClient.batch}. */
export interface JsonRpcCall {
  /** The method. */
  method: string;
  /** Its params. */
  params?: unknown[] | Record<string, unknown>;
  /** A notification: sent, no answer expected. */
  notification?: boolean;
}

/** Options of {@linkcode JsonRpcClient}. */
export interface JsonRpcClientOptions {
  /** The HTTP client to send with (a new one by default, closed by `close`). */
  client?: HttpClient;
  /** Header fields sent with each request (Authorization...). */
  headers?: Record<string, string>;
}

/**
 * A JSON-RPC 2.0 client over HTTP POST.
 *
 * Each call is an interruption point (the HTTP request's contract: an interrupted
 * request's connection is closed).
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * const rpc = new JsonRpcClient("http://127.0.0.1:8080/rpc");
 * assert.equal(await rpc.call("add", [1, 2]), 3);
 * rpc.close();
 * ```
 */
export class JsonRpcClient {
  readonly #url: string;
  readonly #client: HttpClient;
  readonly #own: boolean;
  readonly #headers: Record<string, string>;
  #nextId = 1;

  /**
   * Makes the client.
   * @param url the endpoint
   * @param options HTTP client and header fields
   */
  constructor(url: string, options: JsonRpcClientOptions = {}) {
    this.#url = url;
    this.#own = options.client === undefined;
    this.#client = options.client ?? new HttpClient();
    this.#headers = {
      ...options.headers,
      "content-type": "application/json",
      "accept": "application/json",
    };
  }

  async #post(body: unknown): Promise<unknown> {
    const response = await this.#client.request(this.#url, {
      method: "POST",
      headers: this.#headers,
      body: JSON.stringify(body),
    });
    if (response.status === 204) {
      await response.release();
      return null;
    }
    const text = await response.text();
    if (response.status !== 200) {
      throw new HttpError(response.status, `JSON-RPC over HTTP: ${response.status} ${text}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new JsonRpcError(JsonRpcErrorCode.ParseError, "the server's answer is not JSON");
    }
  }

  static #settle(answer: unknown): unknown {
    const a = answer as Response;
    if (a?.jsonrpc !== "2.0" || (!("result" in a) && !("error" in a))) {
      return new JsonRpcError(JsonRpcErrorCode.InvalidRequest, "not a JSON-RPC answer", answer);
    }
    if (a.error !== undefined) {
      return new JsonRpcError(
        typeof a.error.code === "number" ? a.error.code : JsonRpcErrorCode.InternalError,
        String(a.error.message),
        a.error.data,
      );
    }
    return a.result;
  }

  /**
   * Calls `method` and returns its result.
   * @throws {JsonRpcError} what the server answered with
   * @throws {HttpError} if the server answers with another status than 200
   */
  async call(method: string, params?: unknown[] | Record<string, unknown>): Promise<unknown> {
    const id = this.#nextId++;
    const answer = await this.#post({ jsonrpc: "2.0", method, params, id });
    const a = answer as Response;
    if (a?.id !== id && a?.id !== null) {
      throw new JsonRpcError(JsonRpcErrorCode.InvalidRequest, "answer to another call", answer);
    }
    const outcome = JsonRpcClient.#settle(answer);
    if (outcome instanceof JsonRpcError) throw outcome;
    return outcome;
  }

  /** Sends a notification (no answer). */
  async notify(method: string, params?: unknown[] | Record<string, unknown>): Promise<void> {
    await this.#post({ jsonrpc: "2.0", method, params });
  }

  /**
   * Sends `calls` as one batch; returns, in the calls' order, each result or its
   * JsonRpcError (undefined for notifications).
   */
  async batch(calls: JsonRpcCall[]): Promise<unknown[]> {
    const ids = calls.map((c) => (c.notification ? null : this.#nextId++));
    const answer = await this.#post(
      calls.map((c, i) =>
        ids[i] === null
          ? { jsonrpc: "2.0", method: c.method, params: c.params }
          : { jsonrpc: "2.0", method: c.method, params: c.params, id: ids[i] }
      ),
    );
    if (answer === null) return calls.map(() => undefined);
    if (!Array.isArray(answer)) {
      // One error for the whole batch (an invalid or too large batch).
      const outcome = JsonRpcClient.#settle(answer);
      throw outcome instanceof JsonRpcError
        ? outcome
        : new JsonRpcError(JsonRpcErrorCode.InvalidRequest, "not a batch answer", answer);
    }
    const byId = new Map<unknown, unknown>();
    for (const a of answer) byId.set((a as Response)?.id, JsonRpcClient.#settle(a));
    return ids.map((id) =>
      id === null
        ? undefined
        : byId.has(id)
        ? byId.get(id)
        : new JsonRpcError(JsonRpcErrorCode.InternalError, "no answer to this call")
    );
  }

  /** Closes the HTTP client, if this client made it. */
  close(): void {
    if (this.#own) this.#client.close();
  }
}
