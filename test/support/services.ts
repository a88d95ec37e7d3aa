const stoppers: Array<() => Promise<void>> = [];

/** Registers a shared test service's shutdown, run once after the whole suite. */
export function onSuiteEnd(stop: () => Promise<void>): void {
  stoppers.push(stop);
}

export async function stopSharedServices(): Promise<void> {
  for (const stop of stoppers.splice(0).reverse()) {
    try {
      await stop();
    } catch {
      // a service that is already gone is fine at the end of a run
    }
  }
}
