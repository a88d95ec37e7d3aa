/**
 * Group commit: calls that arrive while a batch is being written wait, and go together in the next
 * batch (one transaction, a few statements, for all of them) instead of a transaction each. A call
 * that finds nothing running starts at once, alone, so an idle process adds no wait; under load the
 * batches grow with the number of concurrent callers. One batch runs at a time per group.
 *
 * When a batch fails as a whole, each of its calls runs again alone, so one call's failure is its
 * own and never another's. Calls with the same `keyOf` (the same task) never share a batch: each
 * goes in a later one, as separate statements would run one after the other.
 */
export function groupCommit<I, O>(
  run: (inputs: I[]) => Promise<O[]>,
  options: { maxBatch?: number; keyOf?: (input: I) => unknown } = {},
): (input: I) => Promise<O> {
  const { maxBatch = 100, keyOf } = options;
  let waiting: Array<{ input: I; resolve: (out: O) => void; reject: (err: unknown) => void }> = [];
  let running = false;

  async function runAlone(call: (typeof waiting)[number]): Promise<void> {
    try {
      const [out] = await run([call.input]);
      call.resolve(out);
    } catch (err) {
      call.reject(err);
    }
  }

  function takeBatch(): typeof waiting {
    if (!keyOf) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      return batch;
    }
    const keys = new Set<unknown>();
    const batch: typeof waiting = [];
    const rest: typeof waiting = [];
    for (const call of waiting) {
      const key = keyOf(call.input);
      if (batch.length < maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(call);
      } else rest.push(call);
    }
    waiting = rest;
    return batch;
  }

  async function drain(): Promise<void> {
    running = true;
    while (waiting.length > 0) {
      const batch = takeBatch();
      if (batch.length === 1) {
        await runAlone(batch[0]);
        continue;
      }
      try {
        const outs = await run(batch.map((call) => call.input));
        batch.forEach((call, i) => {
          call.resolve(outs[i]);
        });
      } catch {
        for (const call of batch) await runAlone(call);
      }
    }
    running = false;
  }

  return (input) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ input, resolve, reject });
      if (!running) void drain();
    });
}
