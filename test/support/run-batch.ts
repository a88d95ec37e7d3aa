import type {
  BatchInput,
  BatchMemberInput,
  BatchProcessor,
  BatchResult,
  ProcessorDeps,
} from '../../src/connectors/processor-contract.js';

export type DoneBatch = Extract<BatchResult, { outcome: 'done' }>;

/**
 * Runs a batch processor the way the batch runner does, without a ledger or a queue: evidence kept
 * in memory between runs, `advance` called while the vendor is still at work, until it is done.
 */
export async function runBatchToEnd<C>(
  processor: BatchProcessor<C>,
  input: {
    scope: string;
    members: BatchMemberInput[];
    clients: ProcessorDeps<C>;
    advance: () => void;
    maxRuns?: number;
  },
): Promise<{ result: DoneBatch; evidence: Record<string, unknown>; runs: number }> {
  const evidence: Record<string, unknown> = {};
  const maxRuns = input.maxRuns ?? 10;
  for (let runs = 1; runs <= maxRuns; runs++) {
    const batch: BatchInput = {
      batchId: 'batch-1',
      scope: input.scope,
      members: input.members,
      attempt: 1,
      previous: { ...evidence },
      checkpoint: async (e) => void Object.assign(evidence, e),
    };
    const result = await processor(batch, input.clients);
    if (result.outcome === 'done') return { result, evidence, runs };
    Object.assign(evidence, result.evidence);
    input.advance();
  }
  throw new Error(`batch not done after ${maxRuns} runs`);
}

/** Each member's result, by task id. */
export const memberResults = (result: DoneBatch) => Object.fromEntries([...result.members].map(([id, m]) => [id, m]));
