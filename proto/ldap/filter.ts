/**
 * LDAP search filters (RFC 4515): text to a tree (the client turns it into BER, through
 * npm:asn1js, in ./_client.ts).
 * Nesting is limited (50 levels, as Shrapnel's parser) so that hostile input cannot
 * exhaust the stack.
 *
 * @module
 */

import { ShrapnelError } from "../../core/errors.ts";

/** A parsed filter. */
export type Filter =
  | { type: "and" | "or"; filters: Filter[] }
  | { type: "not"; filter: Filter }
  | {
    type: "equal" | "greaterOrEqual" | "lessOrEqual" | "approx";
    attribute: string;
    value: Uint8Array;
  }
  | { type: "present"; attribute: string }
  | {
    type: "substrings";
    attribute: string;
    initial?: Uint8Array;
    any: Uint8Array[];
    final?: Uint8Array;
  };

/**
 * A filter string is not valid RFC 4515 (or nests deeper than the limit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FilterSyntaxError } from "./filter.ts";
 * assert.deepEqual(new FilterSyntaxError("unbalanced parentheses", 3).position, 3);
 * ```
 */
export class FilterSyntaxError extends ShrapnelError {
  /** Where in the text. */
  readonly position: number;
  /**
   * Creates a {@linkcode FilterSyntaxError}.
   *
   * @param message what is wrong; @param position where
   */
  constructor(message: string, position: number) {
    super(`${message} at ${position}`);
    this.position = position;
  }
}

/** Nesting limit of filters. */
export const MAX_FILTER_DEPTH = 50;

const encoder = new TextEncoder();

/**
 * Parses an RFC 4515 filter ("(&(objectClass=person)(cn=J*))"); the outer parentheses
 * may be left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFilter } from "./filter.ts";
 * assert.deepEqual(parseFilter("(|(cn=a)(!(sn=b)))").type, "or");
 * ```
 * @throws {FilterSyntaxError} for bad syntax, bad escapes, or nesting over the limit
 */
export function parseFilter(text: string): Filter {
  const source = text.trim().startsWith("(") ? text.trim() : `(${text.trim()})`;
  let at = 0;
  const fail = (message: string): never => {
    throw new FilterSyntaxError(message, at);
  };
  const value = (raw: string): Uint8Array => {
    // \XX escapes (two hex digits) for any byte; other specials must be escaped.
    const out: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (c === "\\") {
        const hex = raw.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(`bad escape "\\${hex}"`);
        out.push(parseInt(hex, 16));
        i += 2;
      } else if (c === "(" || c === ")" || c === "\0") {
        fail(`unescaped "${c}" in a value`);
      } else out.push(...encoder.encode(c));
    }
    return Uint8Array.from(out);
  };
  const item = (depth: number): Filter => {
    if (depth > MAX_FILTER_DEPTH) fail(`filters nested deeper than ${MAX_FILTER_DEPTH}`);
    if (source[at] !== "(") fail('expected "("');
    at++;
    const c = source[at];
    let result: Filter;
    if (c === "&" || c === "|") {
      at++;
      const filters: Filter[] = [];
      while (source[at] === "(") filters.push(item(depth + 1));
      if (filters.length === 0) fail("empty and/or");
      result = { type: c === "&" ? "and" : "or", filters };
    } else if (c === "!") {
      at++;
      result = { type: "not", filter: item(depth + 1) };
    } else {
      const end = source.indexOf(")", at);
      if (end < 0) fail('missing ")"');
      const simple = source.slice(at, end);
      const m = /^([A-Za-z0-9][A-Za-z0-9;.-]*)(=|~=|>=|<=)(.*)$/s.exec(simple);
      if (m === null) fail(`bad item "${simple.slice(0, 40)}"`);
      const [, attribute, op, raw] = m!;
      if (op === "=" && raw === "*") result = { type: "present", attribute };
      else if (op === "=" && raw.includes("*")) {
        const parts = raw.split("*");
        const [first, ...rest] = parts;
        const last = rest.pop()!;
        result = {
          type: "substrings",
          attribute,
          initial: first === "" ? undefined : value(first),
          any: rest.filter((p) => p !== "").map(value),
          final: last === "" ? undefined : value(last),
        };
      } else {
        const type = op === "="
          ? "equal"
          : op === "~="
          ? "approx"
          : op === ">="
          ? "greaterOrEqual"
          : "lessOrEqual";
        result = { type, attribute, value: value(raw) };
      }
      at = end;
    }
    if (source[at] !== ")") fail('expected ")"');
    at++;
    return result;
  };
  const filter = item(1);
  if (at !== source.length) fail("text after the filter");
  return filter;
}
