/**
 * HTTP/2 numbers (RFC 9113): frame types, flags, settings and error codes.
 *
 * @module
 */

/** The client connection preface: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
export const PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Frame type DATA. */
export const DATA = 0x0;
/** Frame type HEADERS. */
export const HEADERS = 0x1;
/** Frame type PRIORITY (deprecated by RFC 9113; read and ignored). */
export const PRIORITY = 0x2;
/** Frame type RST_STREAM. */
export const RST_STREAM = 0x3;
/** Frame type SETTINGS. */
export const SETTINGS = 0x4;
/** Frame type PUSH_PROMISE (never sent: server push is not supported). */
export const PUSH_PROMISE = 0x5;
/** Frame type PING. */
export const PING = 0x6;
/** Frame type GOAWAY. */
export const GOAWAY = 0x7;
/** Frame type WINDOW_UPDATE. */
export const WINDOW_UPDATE = 0x8;
/** Frame type CONTINUATION. */
export const CONTINUATION = 0x9;

/** Flag END_STREAM (DATA, HEADERS). */
export const END_STREAM = 0x1;
/** Flag ACK (SETTINGS, PING). */
export const ACK = 0x1;
/** Flag END_HEADERS (HEADERS, CONTINUATION). */
export const END_HEADERS = 0x4;
/** Flag PADDED (DATA, HEADERS). */
export const PADDED = 0x8;
/** Flag PRIORITY (HEADERS). */
export const PRIORITY_FLAG = 0x20;

/** Setting HEADER_TABLE_SIZE. */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
/** Setting ENABLE_PUSH. */
export const SETTINGS_ENABLE_PUSH = 0x2;
/** Setting MAX_CONCURRENT_STREAMS. */
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
/** Setting INITIAL_WINDOW_SIZE. */
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
/** Setting MAX_FRAME_SIZE. */
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
/** Setting MAX_HEADER_LIST_SIZE. */
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;
/** Setting ENABLE_CONNECT_PROTOCOL (RFC 8441; not offered: WebSocket stays on HTTP/1.1). */
export const SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8;

/** Error code NO_ERROR. */
export const NO_ERROR = 0x0;
/** Error code PROTOCOL_ERROR. */
export const PROTOCOL_ERROR = 0x1;
/** Error code INTERNAL_ERROR. */
export const INTERNAL_ERROR = 0x2;
/** Error code FLOW_CONTROL_ERROR. */
export const FLOW_CONTROL_ERROR = 0x3;
/** Error code SETTINGS_TIMEOUT. */
export const SETTINGS_TIMEOUT = 0x4;
/** Error code STREAM_CLOSED. */
export const STREAM_CLOSED = 0x5;
/** Error code FRAME_SIZE_ERROR. */
export const FRAME_SIZE_ERROR = 0x6;
/** Error code REFUSED_STREAM. */
export const REFUSED_STREAM = 0x7;
/** Error code CANCEL. */
export const CANCEL = 0x8;
/** Error code COMPRESSION_ERROR. */
export const COMPRESSION_ERROR = 0x9;
/** Error code CONNECT_ERROR. */
export const CONNECT_ERROR = 0xa;
/** Error code ENHANCE_YOUR_CALM. */
export const ENHANCE_YOUR_CALM = 0xb;
/** Error code INADEQUATE_SECURITY. */
export const INADEQUATE_SECURITY = 0xc;
/** Error code HTTP_1_1_REQUIRED. */
export const HTTP_1_1_REQUIRED = 0xd;

// The names of the error codes live with the errors (errors.ts), in the static graph.
export { errorName } from "./errors.ts";

/** The largest flow-control window and stream id (2^31 - 1, RFC 9113 section 6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** Bytes queued for the writer past which a sender waits for it to drain. */
export const HIGH_WATER: number = 256 * 1024;
/** Fields HTTP/2 forbids in a message (RFC 9113 section 8.2.2): never sent, refused if received. */
export const CONNECTION_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);
