/**
 * npm:ssh2, loaded on first use (an SSH client connecting, an SSH backdoor starting), so
 * that importing shrapnel neither fetches nor loads it.
 *
 * @module
 */
// @ts-types="@types/ssh2"
import type * as Ssh2 from "ssh2";
import { awaitModule } from "../../core/_lazy_import.ts";
import { importNpm } from "../_npm.ts";

let ssh2: typeof Ssh2 | null = null;

/** npm:ssh2's exports, imported on the first call. Interruption point in a thread. */
export async function loadSsh2(): Promise<typeof Ssh2> {
  if (ssh2 === null) {
    const loaded = await awaitModule(
      () => importNpm<typeof Ssh2 & { default?: typeof Ssh2 }>("ssh2"),
      "npm:ssh2",
    );
    ssh2 = (loaded.default ?? loaded) as typeof Ssh2;
  }
  return ssh2;
}
