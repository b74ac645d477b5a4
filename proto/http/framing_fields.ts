/**
 * The fields that decide how a message is framed and whether its connection stays
 * open, as bits: headers note which of them they hold, so that the server skips looking
 * up the ones a message does not have (most messages have none but a length).
 *
 * @module
 */

/** @internal Content-Length. */
export const CONTENT_LENGTH = 1;
/** @internal Transfer-Encoding. */
export const TRANSFER_ENCODING = 2;
/** @internal Connection. */
export const CONNECTION = 4;
/** @internal Expect. */
export const EXPECT = 8;

/** @internal The bit of a lower-case field name, 0 for the other fields. */
export function framingBit(name: string): number {
  switch (name.length) {
    case 14:
      return name === "content-length" ? CONTENT_LENGTH : 0;
    case 17:
      return name === "transfer-encoding" ? TRANSFER_ENCODING : 0;
    case 10:
      return name === "connection" ? CONNECTION : 0;
    case 6:
      return name === "expect" ? EXPECT : 0;
    default:
      return 0;
  }
}
