/**
 * `instanceof` for error families whose protocol error extends `ProtocolError`.
 *
 * @module
 */

/**
 * `instanceof` for a protocol's family base class (`DnsError`, `HttpError`...) whose
 * protocol error must extend `ProtocolError` instead: true for the class's own
 * instances and, when asked of the family base itself, for instances of `members`.
 */
export function familyHasInstance(
  asked: abstract new (...args: never[]) => unknown,
  family: abstract new (...args: never[]) => unknown,
  members: readonly (abstract new (...args: never[]) => unknown)[],
  value: unknown,
): boolean {
  if (Function.prototype[Symbol.hasInstance].call(asked, value)) return true;
  if (asked !== family) return false;
  for (const member of members) {
    if (Function.prototype[Symbol.hasInstance].call(member, value)) return true;
  }
  return false;
}
