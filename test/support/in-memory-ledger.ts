import type { NewRequest } from '../../src/ledger/request-creation.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import type { TaskDeferral } from '../../src/ledger/tasks-ledger.js';
import { outcomeOf } from '../../src/ledger/requests-ledger.js';
import {
  TERMINAL_TASK_STATES,
  type RequestRecord,
  type RequestStatus,
  type StatusChange,
  type TaskRecord,
  type TaskState,
} from '../../src/ledger/ledger-types.js';
import {
  REQUEST_TRANSITIONS,
  TASK_EVIDENCE_STATES,
  checkTaskTarget,
  mayRequestMove,
  mayTaskMove,
  type RequestTransitionName,
  type TaskTransitionName,
  type TaskWriteResult,
} from '../../src/ledger/task-transitions.js';

/**
 * A cheap in-process model of the task and request writes of Ledger, for property tests
 * that need thousands of interleavings: every guard is read from the same tables
 * (src/ledger/task-transitions.ts) as the SQL ones, each call is atomic like a transaction, and it
 * has no identity vault (subjects are empty). Only the methods the task runner and the property
 * test call exist; `asLedger` shapes it as the runner's Ledger.
 */
export class InMemoryLedger {
  private readonly requests = new Map<string, RequestRecord>();
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly listeners: Array<(change: StatusChange) => void> = [];

  /** This model in the shape of the ledger's composition: every concept is this one object. */
  asLedger(): Ledger {
    return {
      requests: this,
      tasks: this,
      vault: this,
      audit: this,
      queries: this,
      ping: () => this.ping(),
    } as unknown as Ledger;
  }

  onStatusChange(listener: (change: StatusChange) => void): void {
    this.listeners.push(listener);
  }

  async ping(): Promise<void> {}

  async createRequest(input: NewRequest): Promise<{ request: RequestRecord; created: boolean }> {
    const now = new Date();
    const request: RequestRecord = {
      id: input.id,
      kind: 'erasure',
      regulation: input.regulation,
      status: 'received',
      vendors: input.vendors,
      client: input.client ?? 'model',
      subjectHash: 'model',
      callbackUrl: null,
      origin: 'native',
      submittedAt: input.submittedAt,
      dueAt: input.dueAt,
      notBefore: null,
      finishedAt: null,
      createdAt: now,
      updatedAt: now,
    };
    this.requests.set(request.id, request);
    for (const spec of input.tasks) {
      const state = spec.initialState ?? 'queued';
      this.tasks.set(spec.id, {
        id: spec.id,
        requestId: input.id,
        vendor: spec.vendor,
        resource: spec.resource,
        action: spec.action,
        queue: spec.queue,
        jobName: spec.jobName,
        state,
        attempts: 0,
        evidence: {},
        error: null,
        waitingReason: spec.waitingReason ?? null,
        nextActionAt: null,
        startedAt: null,
        finishedAt: state === 'skipped' ? now : null,
        updatedAt: now,
      });
    }
    return { request: { ...request }, created: true };
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const request = this.requests.get(id);
    return request && { ...request };
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(id);
    return task && { ...task, evidence: { ...task.evidence } };
  }

  async getTasks(requestId: string): Promise<TaskRecord[]> {
    return [...this.tasks.values()]
      .filter((t) => t.requestId === requestId)
      .map((t) => ({ ...t, evidence: { ...t.evidence } }));
  }

  async taskStates(taskIds: string[]): Promise<Map<string, TaskState>> {
    return new Map(
      taskIds.flatMap((id): Array<[string, TaskState]> =>
        this.tasks.has(id) ? [[id, this.tasks.get(id)!.state]] : [],
      ),
    );
  }

  async loadSubject(): Promise<Record<string, never>> {
    return {};
  }

  private moveRequest(name: RequestTransitionName, id: string, to: RequestStatus): boolean {
    const request = this.requests.get(id);
    if (
      !request ||
      !mayRequestMove(name, request.status) ||
      !(REQUEST_TRANSITIONS[name].to as readonly RequestStatus[]).includes(to)
    )
      return false;
    const from = request.status;
    if (from === to) return false;
    request.status = to;
    request.finishedAt = name === 'settle' ? new Date() : name === 'reopen' ? null : request.finishedAt;
    for (const listener of this.listeners) listener({ request: { ...request }, from, to });
    return true;
  }

  private moveTask(
    name: TaskTransitionName,
    id: string,
    to: TaskState,
    change: Partial<TaskRecord> = {},
  ): TaskWriteResult {
    checkTaskTarget(name, to);
    const task = this.tasks.get(id);
    if (!task || !mayTaskMove(name, task.state)) return { applied: false, state: task?.state };
    Object.assign(task, change, { state: to, updatedAt: new Date() });
    return { applied: true, state: to };
  }

  async markEnqueued(requestId: string): Promise<void> {
    this.moveRequest('enqueue', requestId, 'in_progress');
  }

  async beginTask(taskId: string): Promise<{ task: TaskRecord; subject: Record<string, never> } | undefined> {
    const task = this.tasks.get(taskId);
    if (!task) return undefined;
    const attempts = task.attempts + 1;
    if (
      !this.moveTask('begin', taskId, 'running', {
        attempts,
        error: null,
        waitingReason: null,
        nextActionAt: null,
        finishedAt: null,
      }).applied
    )
      return undefined;
    const request = this.requests.get(task.requestId)!;
    if (request.status !== 'in_progress') this.moveRequest('reopen', request.id, 'in_progress');
    return { task: (await this.getTask(taskId))!, subject: {} };
  }

  async checkpointTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    const task = this.tasks.get(taskId);
    if (!task || !TASK_EVIDENCE_STATES.includes(task.state)) return { applied: false, state: task?.state };
    Object.assign(task.evidence, evidence);
    return { applied: true, state: task.state };
  }

  async finishTask(
    taskId: string,
    state: 'succeeded' | 'not_found' | 'skipped',
    evidence: Record<string, unknown>,
  ): Promise<TaskWriteResult> {
    const evidenceNow = { ...this.tasks.get(taskId)?.evidence, ...evidence };
    return this.moveTask('finish', taskId, state, {
      evidence: evidenceNow,
      error: null,
      waitingReason: null,
      nextActionAt: null,
      finishedAt: new Date(),
    });
  }

  async deferTask(taskId: string, deferral: TaskDeferral): Promise<TaskWriteResult> {
    const task = this.tasks.get(taskId);
    return this.moveTask('defer', taskId, deferral.state, {
      waitingReason: deferral.reason,
      nextActionAt: deferral.nextActionAt ?? null,
      error: deferral.error ?? task?.error ?? null,
      evidence: { ...task?.evidence, ...deferral.evidence },
    });
  }

  async failTask(taskId: string, error: string): Promise<TaskWriteResult> {
    return this.moveTask('fail', taskId, 'failed', {
      error,
      waitingReason: null,
      nextActionAt: null,
      finishedAt: new Date(),
    });
  }

  async cancelStartedTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    const evidenceNow = { ...this.tasks.get(taskId)?.evidence, ...evidence };
    return this.moveTask('withdraw', taskId, 'cancelled', {
      evidence: evidenceNow,
      waitingReason: null,
      nextActionAt: null,
      finishedAt: new Date(),
    });
  }

  async settleRequest(requestId: string): Promise<RequestStatus | undefined> {
    const request = this.requests.get(requestId);
    if (!request) return undefined;
    const states = [...this.tasks.values()].filter((t) => t.requestId === requestId).map((t) => t.state);
    if (states.some((s) => !TERMINAL_TASK_STATES.includes(s))) return undefined;
    const outcome = request.status === 'cancelled' ? 'cancelled' : outcomeOf(states);
    if (outcome === request.status) return outcome;
    if (!mayRequestMove('settle', request.status)) return request.status;
    this.moveRequest('settle', requestId, outcome);
    return outcome;
  }

  async reopenFailedTasks(requestId: string): Promise<TaskRecord[]> {
    const request = this.requests.get(requestId);
    if (!request || (request.status !== 'in_progress' && !mayRequestMove('reopen', request.status))) return [];
    const reopened = [...this.tasks.values()].filter(
      (t) =>
        t.requestId === requestId &&
        this.moveTask('retry', t.id, 'queued', { waitingReason: 'retry requested by an operator', finishedAt: null })
          .applied,
    );
    if (reopened.length > 0 && request.status !== 'in_progress') this.moveRequest('reopen', requestId, 'in_progress');
    return reopened.map((t) => ({ ...t }));
  }

  async completeManualTask(
    requestId: string,
    taskId: string,
    actor: string,
    note: string,
  ): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    if (!task || task.requestId !== requestId) return undefined;
    const evidence = { ...task.evidence, completedBy: actor, note };
    return this.moveTask('completeManual', taskId, 'succeeded', {
      evidence,
      waitingReason: null,
      finishedAt: new Date(),
    }).applied
      ? { ...task }
      : undefined;
  }

  async cancelRequest(requestId: string): Promise<{ cancelled: TaskRecord[]; started: TaskRecord[] } | undefined> {
    const request = this.requests.get(requestId);
    if (!request || !mayRequestMove('cancel', request.status)) return undefined;
    const own = [...this.tasks.values()].filter((t) => t.requestId === requestId);
    const cancelled = own.filter(
      (t) =>
        this.moveTask('cancelUnstarted', t.id, 'cancelled', {
          waitingReason: 'cancelled before it started',
          finishedAt: new Date(),
        }).applied,
    );
    const started = own.filter((t) => t.state === 'running' || t.state === 'waiting_vendor');
    this.moveRequest('cancel', requestId, 'cancelled');
    return { cancelled: cancelled.map((t) => ({ ...t })), started: started.map((t) => ({ ...t })) };
  }

  async unsettledRequests(limit: number): Promise<string[]> {
    const open = [...this.requests.values()].filter(
      (r) =>
        (r.status === 'scheduled' || r.status === 'in_progress') &&
        [...this.tasks.values()].every((t) => t.requestId !== r.id || TERMINAL_TASK_STATES.includes(t.state)),
    );
    return open.slice(0, limit).map((r) => r.id);
  }
}
