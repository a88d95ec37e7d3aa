import { randomBytes } from 'node:crypto';
import type { BatchMemberInput, BatchProcessor, BatchResult, MemberResult } from '../connectors/processor-contract.js';
import { isVendorError } from '../vendors/vendor-errors.js';

// What every canary (src/preflight/canary.ts) runs on: in-memory evidence, a processor run alone,
// and messages that may be shown.

const MAX_RUNS = 30;

/** A checkpoint that keeps the evidence in memory (a canary has no ledger record). */
export function keep(evidence: Record<string, unknown>, more: Record<string, unknown>): Promise<void> {
  Object.assign(evidence, more);
  return Promise.resolve();
}

/** A vendor value for a message: primitives as they are, anything else as JSON, nothing as `fallback`. */
export function shown(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
export const realWait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 5_000)));

/** Runs a batch processor to its end for the canary alone: evidence in memory, no ledger, no queue. */
export async function runAlone<C>(
  processor: BatchProcessor<C>,
  scope: string,
  member: BatchMemberInput,
  client: C | undefined,
  wait: (ms: number) => Promise<void>,
  signal?: AbortSignal,
) {
  const evidence: Record<string, unknown> = {};
  for (let run = 0; run < MAX_RUNS; run++) {
    const result: BatchResult = await processor(
      {
        batchId: `canary-${randomBytes(4).toString('hex')}`,
        scope,
        members: [member],
        attempt: 1,
        previous: { ...evidence },
        checkpoint: (e) => keep(evidence, e),
        signal,
      },
      { client },
    );
    if (result.outcome === 'done') return memberResult(result.members, member.taskId);
    Object.assign(evidence, result.evidence);
    await wait(result.pollAfterMs);
  }
  throw new CanaryTimeout(`did not end: the vendor was still at work after ${MAX_RUNS} polls`);
}

/** A canary whose vendor job never ended, or ended without its member; its message is ours, so it may be shown. */
export class CanaryTimeout extends Error {}

export function memberResult(members: Map<string, MemberResult>, taskId: string): MemberResult {
  const mine = members.get(taskId);
  if (!mine) throw new CanaryTimeout('ended without a result for the canary');
  return mine;
}

/** Why a canary failed: the taxonomy's message (vendor, operation, status, code) or ours, never other text. */
export const failure = (err: unknown) =>
  isVendorError(err) || err instanceof CanaryTimeout
    ? err.message
    : `failed (${(err as Error | undefined)?.name ?? 'Error'})`;
