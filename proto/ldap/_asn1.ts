/**
 * npm:asn1js, loaded on first use (an LDAP client connecting), so that importing shrapnel
 * neither fetches nor loads it. `asn1js` is a live binding: the module once loaded.
 *
 * @module
 */
import type * as Asn1 from "asn1js";
import { awaitModule } from "../../core/_lazy_import.ts";
import { importNpm } from "../_npm.ts";

const notLoaded = new Proxy({}, {
  get(): never {
    throw new Error("npm:asn1js is not loaded: LdapClient.connect loads it (or await loadAsn1())");
  },
}) as typeof Asn1;

/** npm:asn1js once {@linkcode loadAsn1} has run. */
export let asn1js: typeof Asn1 = notLoaded;

/** Imports npm:asn1js (once). Interruption point in a thread. */
export async function loadAsn1(): Promise<void> {
  if (asn1js === notLoaded) {
    asn1js = await awaitModule(() => importNpm<typeof Asn1>("asn1js"), "npm:asn1js");
  }
}
