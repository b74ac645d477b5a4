/**
 * Bundled handlers: static files, a favicon, a thread-dump status page.
 *
 * @module
 */

import { awaitModule } from "../../core/_lazy_import.ts";
import { threadDump } from "../../core/thread.ts";
import { escapeHtml, type HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";
import { lazyHandler } from "./_lazy_handler.ts";

/** The static files handler's code, loaded by the first request of any. */
let filesModule: typeof import("./_static_files.ts") | undefined;

/** Content types by file extension. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  ico: "image/x-icon",
  wasm: "application/wasm",
  webp: "image/webp",
  woff2: "font/woff2",
};

/** Options of {@linkcode staticFilesHandler}. */
export interface StaticFilesOptions {
  /** URL prefix served ("/"). */
  prefix?: string;
  /** File served for a directory ("index.html"). */
  index?: string;
  /** Cache-Control value, if any. */
  cacheControl?: string;
}

/**
 * Serves the files under `root` for GET and HEAD: content type by extension,
 * Last-Modified and If-Modified-Since (304), streaming in 64 KiB pieces. Paths that
 * climb out of `root` ("..") are refused (404, without touching the file system).
 *
 * @example
 * ```ts ignore
 * server.push(staticFilesHandler("./public", { prefix: "/static/" }));
 * ```
 */
export function staticFilesHandler(root: string, options: StaticFilesOptions = {}): Handler {
  if (filesModule !== undefined) return filesModule.makeStaticFilesHandler(root, options);
  const prefix = options.prefix ?? "/";
  const match = (request: HttpRequest) =>
    (request.method === "GET" || request.method === "HEAD") && request.path.startsWith(prefix);
  return lazyHandler(match, async () => {
    filesModule ??= await awaitModule(
      () => import("./_static_files.ts"),
      "the static files handler",
    );
    return filesModule.makeStaticFilesHandler(root, options);
  });
}

/** A small default icon: a 16x16 single-colour ICO. */
function defaultIcon(): Uint8Array {
  const size = 16, pixels = size * size;
  const image = 40 + pixels * 4 + (size * size) / 8;
  const out = new Uint8Array(6 + 16 + image);
  const v = new DataView(out.buffer);
  v.setUint16(2, 1, true); // type: icon
  v.setUint16(4, 1, true); // one image
  out[6] = size;
  out[7] = size;
  v.setUint16(10, 1, true); // planes
  v.setUint16(12, 32, true); // bits per pixel
  v.setUint32(14, image, true);
  v.setUint32(18, 22, true); // offset
  const h = 22;
  v.setUint32(h, 40, true);
  v.setInt32(h + 4, size, true);
  v.setInt32(h + 8, size * 2, true);
  v.setUint16(h + 12, 1, true);
  v.setUint16(h + 14, 32, true);
  for (let i = 0; i < pixels; i++) {
    const p = h + 40 + i * 4;
    out[p] = 0x2a; // blue
    out[p + 1] = 0x6b; // green
    out[p + 2] = 0xd8; // red
    out[p + 3] = 0xff;
  }
  return out;
}

/**
 * Serves `/favicon.ico` (the given icon bytes, or a small blue square).
 *
 * @example
 * ```ts ignore
 * server.push(faviconHandler());
 * ```
 */
export function faviconHandler(icon: Uint8Array = defaultIcon()): Handler {
  return {
    match: (request) => request.path === "/favicon.ico",
    handle: (request) =>
      request.respond(200, icon, {
        "content-type": "image/x-icon",
        "cache-control": "max-age=86400",
      }),
  };
}

/**
 * Serves a thread dump at `path` ("/status"): every thread's id, name, state and what it
 * waits on, as HTML (or JSON with `?format=json`).
 *
 * @example
 * ```ts ignore
 * server.push(statusHandler());
 * ```
 */
export function statusHandler(path = "/status"): Handler {
  return {
    match: (request: HttpRequest) => request.path === path && request.method === "GET",
    handle(request: HttpRequest) {
      const threads = threadDump();
      if (request.query.get("format") === "json") {
        return request.respond(200, JSON.stringify(threads), {
          "content-type": "application/json",
        });
      }
      const rows = threads.map((t) =>
        `<tr><td>${t.id}</td><td>${escapeHtml(t.name)}</td><td>${t.state}</td><td>${
          escapeHtml(t.waitingOn ?? "")
        }</td></tr>`
      ).join("\n");
      return request.respond(
        200,
        `<!doctype html><title>status</title><h1>${threads.length} threads</h1>` +
          `<table><tr><th>id</th><th>name</th><th>state</th><th>waiting on</th></tr>\n${rows}</table>\n`,
        { "content-type": "text/html; charset=utf-8" },
      );
    },
  };
}

/** @deprecated Renamed {@linkcode staticFilesHandler} (as `statusHandler`, `fetchHandler`). */
export const staticFiles: typeof staticFilesHandler = staticFilesHandler;
/** @deprecated Renamed {@linkcode faviconHandler} (as `statusHandler`, `fetchHandler`). */
export const favicon: typeof faviconHandler = faviconHandler;
