import type { Job } from 'bullmq';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { TaskRecord } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import { connectorFor } from '../connectors/registry.js';
import { mayTaskMove } from '../ledger/task-transitions.js';
import { WITHDRAWAL_AUDIT_ACTION, type WithdrawalJobData } from '../operations/withdrawal-job.js';
import { firstLedgerStep, settleFailure, waitIfLedgerDown, type SupersededRun } from './job-outcome.js';

export interface WithdrawalRunnerDeps {
  ledger: Ledger;
  config: Config;
  clients: VendorClients;
  logger: Logger;
}

/** What a withdrawal job leaves in Redis as its return value: the outcome word, nothing more. */
export interface WithdrawalJobResult {
  outcome: 'withdrawn' | 'not_withdrawn' | 'already_ended' | SupersededRun['outcome'];
}

export { WITHDRAWAL_AUDIT_ACTION };
const ACTOR = 'system:withdrawal';

/**
 * Runs one withdrawal job (src/operations/withdrawal-job.ts): asks the task's connector to take
 * the started task back at the vendor, and records the answer. A task withdrawn ends `cancelled`
 * through the guarded `withdraw` transition (src/ledger/task-transitions.ts); one its own job
 * ended first keeps what that job recorded. Either way the request's audit trail gets a
 * `task.withdrawal` entry and the request settles when its last task has ended. Vendor errors go
 * through the one taxonomy (job-outcome.ts): a 429 waits without an attempt, a transient error is
 * retried, and a withdrawal that fails for good leaves the task to run to its end, and says why.
 */
export function createWithdrawalRunner(deps: WithdrawalRunnerDeps) {
  const { ledger } = deps;
  const record = (task: Pick<TaskRecord, 'id' | 'requestId' | 'vendor'>, outcome: WithdrawalAuditOutcome) =>
    recordWithdrawal(ledger, task, outcome);

  return async (job: Job<WithdrawalJobData>, token?: string): Promise<WithdrawalJobResult> => {
    const { requestId, taskId } = job.data;
    const log = deps.logger.child({ requestId, jobId: job.id, queue: job.queueName, job: job.name });
    const outage = { job, token, log, ping: () => ledger.ping() };
    const task = await firstLedgerStep(outage, () => ledger.tasks.getTask(taskId));
    if (!task) return { outcome: 'already_ended' };
    if (!mayTaskMove('withdraw', task.state)) {
      await record(task, { withdrawn: false, reason: `it had already ended (${task.state}) when its withdrawal ran` });
      return { outcome: 'already_ended' };
    }
    try {
      return await withdraw(deps, task, log);
    } catch (err) {
      await waitIfLedgerDown(err, outage);
      return settleFailure(err, {
        job,
        token,
        vendor: task.vendor,
        log,
        hooks: {
          rateLimited: () => Promise.resolve(),
          willRetry: () => Promise.resolve(),
          failed: (reason) => record(task, { withdrawn: false, reason: `the withdrawal failed: ${reason}` }),
        },
      });
    }
  };
}

interface WithdrawalAuditOutcome {
  withdrawn: boolean;
  reason?: string;
}

async function recordWithdrawal(
  ledger: Ledger,
  task: Pick<TaskRecord, 'id' | 'requestId' | 'vendor'>,
  outcome: WithdrawalAuditOutcome,
): Promise<void> {
  await ledger.audit.append(task.requestId, ACTOR, WITHDRAWAL_AUDIT_ACTION, {
    taskId: task.id,
    vendor: task.vendor,
    ...outcome,
  });
  await ledger.requests.settleRequest(task.requestId);
}

async function withdraw(deps: WithdrawalRunnerDeps, task: TaskRecord, log: Logger): Promise<WithdrawalJobResult> {
  const { ledger } = deps;
  const record = (outcome: WithdrawalAuditOutcome) => recordWithdrawal(ledger, task, outcome);
  const connector = connectorFor(task.vendor);
  const settings = deps.config.vendors[task.vendor];
  if (!connector?.cancelTask || !settings) {
    await record({
      withdrawn: false,
      reason: `${task.vendor} work that has started cannot be withdrawn; it will run to its end`,
    });
    return { outcome: 'not_withdrawn' };
  }
  const subject = await ledger.vault.loadSubject(task.requestId);
  const outcome = await connector.cancelTask({ task, subject, clients: deps.clients, settings });
  if (!outcome.withdrawn) {
    await ledger.tasks.checkpointTask(task.id, outcome.evidence);
    const reason =
      typeof outcome.evidence.reason === 'string'
        ? outcome.evidence.reason
        : 'the vendor no longer allows withdrawing it';
    await record({ withdrawn: false, reason });
    log.info('the vendor did not withdraw a started task', { taskId: task.id });
    return { outcome: 'not_withdrawn' };
  }
  const withdrawn = await ledger.tasks.cancelStartedTask(task.id, { ...outcome.evidence, withdrawnAfterCancel: true });
  if (!withdrawn.applied) {
    // Its job ended it first (src/ledger/task-transitions.ts): what it recorded stands.
    log.info('a started task ended before its withdrawal was recorded', {
      taskId: task.id,
      state: withdrawn.state ?? 'missing',
    });
    await record({
      withdrawn: false,
      reason: `it had already ended (${withdrawn.state ?? 'missing'}) when the withdrawal was recorded`,
    });
    return { outcome: 'already_ended' };
  }
  await record({ withdrawn: true });
  log.info('started task withdrawn at the vendor', { taskId: task.id });
  return { outcome: 'withdrawn' };
}
