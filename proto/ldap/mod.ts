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

export * from "./client.ts";
export * from "./filter.ts";
