/**
 * A protocol's implementation module, loaded on first use: the public module keeps the
 * names, types, docs and errors (cheap to import: comments and small classes), the code
 * that speaks the protocol is evaluated only by a program that connects or serves.
 * (The loader lives in core/_lazy_import.ts, shared with net/ and core/.)
 *
 * @module
 */
export { type LoadOnce, loadOnce } from "../core/_lazy_import.ts";
