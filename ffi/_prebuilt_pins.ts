/**
 * Prebuilt shims published by .github/workflows/release-shims.yml, pinned by SHA-256.
 * The workflow writes this file's replacement (an artifact named `prebuilt-pins`) after it
 * uploads the libraries; a release commits it. Null until the first shim release: then
 * build-ffi needs a C compiler.
 *
 * @module
 */
import type { PrebuiltPins } from "./_prebuilt.ts";

/** The pinned prebuilt shims of this version, or null when none were released. */
export const PREBUILT_PINS: PrebuiltPins | null = null;
