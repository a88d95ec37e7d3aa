/**
 * Group commit: calls that arrive while a batch is being written wait, and go together in the next
 * batch (one transaction, a few statements, for all of them) instead of a transaction each. A call
 * that finds nothing running starts at once, alone, so an idle process adds no wait; under load the
 * batches grow with the number of concurrent callers. One batch runs at a time per group.
 *
 * When a batch fails as a whole, each of its calls runs again alone, so one call's failure is its
 * own and never another's.
 */
export function groupCommit<I, O>(run: (inputs: I[]) => Promise<O[]>, maxBatch = 100): (input: I) => Promise<O> {
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

  async function drain(): Promise<void> {
    running = true;
    while (waiting.length > 0) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
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
