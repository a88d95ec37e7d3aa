import type { FlowJob, FlowJobNode, JobsOptions } from 'bullmq';
import type { TaskSpec } from '../ledger/ledger-types.js';
import type { ResolvedQueue } from '../../queues/queue-definition.js';
import { requestsQueue } from '../../queues/requests-queue.js';

/** Data every task job carries: ids only (Invariant 1). */
export interface TaskJobData {
  requestId: string;
  taskId: string;
}

export interface RequestJobData {
  requestId: string;
}

export const parentJobId = (requestId: string) => `${requestId}__request`;

/**
 * How a failed child affects its parent. Required for every child (Invariant 6): a child with
 * none would leave its parent in waiting-children for ever (https://docs.bullmq.io/guide/flows/fail-parent).
 * - `ignore`: the parent still runs; the task's failure is in the ledger, which settles the outcome.
 */
export type ChildFailurePolicy = 'ignore' | 'fail-parent';

/**
 * Every task job carries this priority; batch jobs and project deletions carry none. BullMQ serves
 * a queue's unprioritised jobs before its prioritised ones (https://docs.bullmq.io/guide/jobs/prioritized; moveToActive reads `wait` before `prioritized`), so a shared
 * batch that has filled runs at once instead of behind thousands of queued member tasks, whose
 * requests are the ones waiting for it. Equal priorities keep their FIFO order.
 */
export const TASK_JOB_PRIORITY = 1;

export function childJob(
  task: Pick<TaskSpec, 'id' | 'queue' | 'jobName'> & { requestId: string },
  onFailure: ChildFailurePolicy,
  defaults: JobsOptions,
): FlowJobNode {
  const failure: JobsOptions =
    onFailure === 'ignore' ? { ignoreDependencyOnFailure: true } : { failParentOnFailure: true };
  const data: TaskJobData = { requestId: task.requestId, taskId: task.id };
  return {
    name: task.jobName,
    queueName: task.queue,
    data,
    opts: { ...defaults, ...failure, priority: TASK_JOB_PRIORITY, jobId: task.id },
  };
}

/** A request as a BullMQ flow: one parent in `requests`, one child per open task in its vendor's queue. */
export function buildRequestFlow(
  requestId: string,
  tasks: Array<Pick<TaskSpec, 'id' | 'queue' | 'jobName'>>,
  queues: ResolvedQueue[],
  delayMs = 0,
): FlowJob {
  const defaultsFor = (name: string): JobsOptions => queues.find((q) => q.name === name)?.defaultJobOptions ?? {};
  const data: RequestJobData = { requestId };
  return {
    name: 'finalize-request',
    queueName: requestsQueue.name,
    data,
    opts: { ...defaultsFor(requestsQueue.name), jobId: parentJobId(requestId) },
    children: tasks.map((task) =>
      childJob({ ...task, requestId }, 'ignore', {
        ...defaultsFor(task.queue),
        ...(delayMs > 0 ? { delay: delayMs } : {}),
      }),
    ),
  };
}
