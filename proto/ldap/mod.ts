/**
 * LDAPv3 on shrapnel sockets: bind, search with RFC 4515 filters, add, modify, delete,
 * StartTLS; BER through npm:asn1js.
 *
 * @example
 * ```ts ignore
 * import { LdapClient } from "./mod.ts";
 * const ldap = await LdapClient.connect({ host: "ldap.example.org" });
 * await ldap.bind("cn=reader,dc=example,dc=org", "secret");
 * console.log(await ldap.search("dc=example,dc=org", "(mail=*@example.org)", ["cn", "mail"]));
 * ```
 *
 * @module
 */

// The BER codec (decodeMessage, filterToAsn1) stays internal.
export {
  type LdapChange,
  LdapClient,
  type LdapEntry,
  LdapError,
  type LdapOptions,
  LdapProtocolError,
  type LdapScope,
} from "./client.ts";
export { type Filter, FilterSyntaxError, MAX_FILTER_DEPTH, parseFilter } from "./filter.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
