/**
 * The JSON-RPC 2.0 handler's code, behind {@linkcode jsonRpcHandler} (json_rpc.ts): loaded
 * by its first request, so that importing the library does not compile it.
 *
 * @module
 */

import type { HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";
import {
  JsonRpcError,
  JsonRpcErrorCode,
  type JsonRpcHandlerOptions,
  type JsonRpcMethod,
} from "./json_rpc.ts";

type Id = string | number | null;

interface Response {
  jsonrpc: "2.0";
  id: Id;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function failure(id: Id, code: number, message: string, data?: unknown): Response {
  const error: Response["error"] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: "2.0", id, error };
}

function isId(id: unknown): id is Id {
  return id === null || typeof id === "string" ||
    (typeof id === "number" && Number.isFinite(id));
}

/** What {@linkcode jsonRpcHandler} makes once loaded: see there. */
export function makeJsonRpcHandler(
  path: string,
  methods: Record<string, JsonRpcMethod>,
  options: JsonRpcHandlerOptions = {},
): Handler {
  const maxBatch = options.maxBatch ?? 100;
  const maxBytes = options.maxBytes ?? 1 << 20;
  const onError = options.onError ?? ((error, method) => {
    console.error(`shrapnel json-rpc: ${method} failed:`, error);
  });

  async function call(message: unknown, request: HttpRequest): Promise<Response | null> {
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      return failure(null, JsonRpcErrorCode.InvalidRequest, "Invalid Request");
    }
    const { jsonrpc, method, params, id } = message as Record<string, unknown>;
    const notification = !("id" in message);
    if (
      jsonrpc !== "2.0" || typeof method !== "string" || (!notification && !isId(id)) ||
      (params !== undefined && (params === null || typeof params !== "object"))
    ) {
      return failure(isId(id) ? id : null, JsonRpcErrorCode.InvalidRequest, "Invalid Request");
    }
    const answerId = notification ? null : id as Id;
    if (method.startsWith("rpc.") || !Object.hasOwn(methods, method)) {
      return notification
        ? null
        : failure(answerId, JsonRpcErrorCode.MethodNotFound, "Method not found", method);
    }
    try {
      const result = await methods[method](params, request);
      return notification ? null : { jsonrpc: "2.0", id: answerId, result: result ?? null };
    } catch (e) {
      if (notification) {
        if (!(e instanceof JsonRpcError)) onError(e, method);
        return null;
      }
      if (e instanceof JsonRpcError) return failure(answerId, e.code, e.message, e.data);
      onError(e, method);
      return failure(answerId, JsonRpcErrorCode.InternalError, "Internal error");
    }
  }

  return {
    match: (request) => request.path === path,
    async handle(request) {
      if (request.method !== "POST") {
        request.replyHeaders.set("allow", "POST");
        return request.error(405);
      }
      const length = Number(request.headers.get("content-length") ?? 0);
      if (length > maxBytes) return request.error(413);
      let text: string;
      try {
        const pieces: Uint8Array[] = [];
        let size = 0;
        for (;;) {
          const piece = await request.body.read();
          if (piece.length === 0) break;
          size += piece.length;
          if (size > maxBytes) return request.error(413);
          pieces.push(piece.slice());
        }
        const bytes = new Uint8Array(size);
        for (let i = 0, at = 0; i < pieces.length; at += pieces[i].length, i++) {
          bytes.set(pieces[i], at);
        }
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e; // the body's own errors: the server answers
        text = ""; // not UTF-8: a parse error below
      }
      let body: unknown;
      let answer: Response | Response[] | null;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined; // not JSON (JSON itself has no undefined)
      }
      if (body === undefined) {
        answer = failure(null, JsonRpcErrorCode.ParseError, "Parse error");
      } else if (Array.isArray(body)) {
        if (body.length === 0 || body.length > maxBatch) {
          answer = failure(
            null,
            JsonRpcErrorCode.InvalidRequest,
            "Invalid Request",
            body.length === 0 ? "empty batch" : `more than ${maxBatch} calls in a batch`,
          );
        } else {
          const answers: Response[] = [];
          for (const message of body) {
            const one = await call(message, request);
            if (one !== null) answers.push(one);
          }
          answer = answers.length === 0 ? null : answers;
        }
      } else {
        answer = await call(body, request);
      }
      if (answer === null) return request.respond(204);
      return request.respond(200, JSON.stringify(answer), {
        "content-type": "application/json",
      });
    },
  };
}
