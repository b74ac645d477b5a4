/**
 * npm:acorn, loaded when a REPL session first needs its parser, so that importing
 * shrapnel neither fetches nor loads it. `acorn` is a live binding: the module once loaded.
 *
 * @module
 */
import type * as Acorn from "acorn";
import { awaitModule } from "../../core/_lazy_import.ts";
import { importNpm } from "../_npm.ts";

const notLoaded = new Proxy({}, {
  get(): never {
    throw new Error("npm:acorn is not loaded: a Repl loads it (or await loadAcorn())");
  },
}) as typeof Acorn;

/** npm:acorn once {@linkcode loadAcorn} has run. */
export let acorn: typeof Acorn = notLoaded;

/** Imports npm:acorn (once). Interruption point in a thread. */
export async function loadAcorn(): Promise<void> {
  if (acorn === notLoaded) {
    acorn = await awaitModule(() => importNpm<typeof Acorn>("acorn"), "npm:acorn");
  }
}
