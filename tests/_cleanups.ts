/** Cleanup that runs every step: a step that throws stops none of the others. */

/**
 * Runs `body`, then every step `cleanups()` lists (asked after the body, so that it names
 * what the body made), each on its own, in order, whatever happened before. Throws the one
 * error there was (the body's or a step's), or an AggregateError of them all, the body's
 * first: nothing is lost, nothing left behind because an earlier step failed.
 */
export async function withCleanups<R>(
  body: () => Promise<R>,
  cleanups: () => (() => unknown)[],
): Promise<R> {
  const errors: unknown[] = [];
  let result: R | undefined;
  try {
    result = await body();
  } catch (e) {
    errors.push(e);
  }
  for (const step of cleanups()) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(
      errors,
      `${errors.length} failures (the body's first, then cleanups')`,
    );
  }
  return result as R;
}
