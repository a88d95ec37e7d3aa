/**
 * Runs `fn` over `items` with at most `limit` calls in flight: a sweep over hundreds of items
 * waits on Redis and the ledger, not on CPU, so doing them one after another is mostly idle.
 * Rejects with the first error, after the calls already started have settled.
 */
export async function eachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
}
