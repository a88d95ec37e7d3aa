import { TERMINAL_TASK_STATES, type RequestStatus, type TaskState } from './ledger-types.js';

/** One kind of write: the states a record may be in for it to apply, and the states it may leave the record in. */
export interface Transition<S extends string> {
  readonly from: readonly S[];
  readonly to: readonly S[];
}

/**
 * Every change of a task's state, as data (README.md, Task and request states). Each write in
 * src/ledger/tasks-ledger.ts names its transition, and its SQL guard (`WHERE state IN …`) is
 * derived from `from` here, so a write that finds the task elsewhere changes nothing and says so.
 * No transition leaves a settled state (SETTLED_TASK_STATES): a cancelled or settled task is never
 * revived, whoever writes late. `failed` is left only by an operator's retry, skip or resolve, or
 * by its failed job being run again (Bull Board's retry button), which begins it.
 */
export const TASK_TRANSITIONS = {
  /** A job run starts: its first run, or one re-delivered (stall, crash), woken, delayed or retried. */
  begin: { from: ['queued', 'running', 'waiting_vendor', 'rate_limited', 'failed'], to: ['running'] },
  /** The running job parks itself: waiting for the vendor, throttled, retried by BullMQ later, or handed to an operator. */
  defer: { from: ['running'], to: ['waiting_vendor', 'rate_limited', 'queued', 'waiting_manual'] },
  /** The running job ends with its outcome. */
  finish: { from: ['running'], to: ['succeeded', 'not_found', 'skipped'] },
  /** Final failure, from the runner, its job's `failed` event or the reconciler (until an operator retries). */
  fail: { from: ['queued', 'running', 'waiting_vendor', 'rate_limited'], to: ['failed'] },
  /** An operator records a manual task as done. */
  completeManual: { from: ['waiting_manual'], to: ['succeeded'] },
  /** A cancel stops the tasks that have not started (a manual step already sent has: keepSentOnCancel). */
  cancelUnstarted: { from: ['queued', 'rate_limited', 'waiting_manual'], to: ['cancelled'] },
  /**
   * A started task withdrawn at the vendor after a cancel. Between the cancel and the withdrawal
   * its job may have parked it (throttled, to be retried): those count as started too.
   */
  withdraw: { from: ['queued', 'running', 'waiting_vendor', 'rate_limited'], to: ['cancelled'] },
  /** An operator retries a failed task. */
  retry: { from: ['failed'], to: ['queued'] },
  /** A vendor's circuit breaker opened: its waiting tasks say why they wait (src/infrastructure/vendor-breaker.ts). */
  pause: { from: ['queued', 'rate_limited', 'waiting_vendor'], to: ['waiting_vendor'] },
  /**
   * On-call closes a failed task that will never succeed: `skipped` (not done, on purpose) or
   * `succeeded` (done outside the service). Either way an operator's decision, never verified: the
   * evidence says so (src/operations/decide-failed-tasks.ts) and the request settles with errors.
   */
  skipFailed: { from: ['failed'], to: ['skipped'] },
  resolveFailed: { from: ['failed'], to: ['succeeded'] },
  /**
   * An operator records a manual step as sent to the vendor (time and reference in its evidence).
   * It stays waiting_manual until the vendor's confirmation is recorded (completeManual).
   */
  markManualSent: { from: ['waiting_manual'], to: ['waiting_manual'] },
  /**
   * A cancel finds a manual step already sent: the vendor cannot take it back, so it is not
   * cancelled; it stays waiting for the confirmation, and says why (issue 19, item 3).
   */
  keepSentOnCancel: { from: ['waiting_manual'], to: ['waiting_manual'] },
} as const satisfies Record<string, Transition<TaskState>>;

export type TaskTransitionName = keyof typeof TASK_TRANSITIONS;

/**
 * States in which a task's evidence may still be added to (checkpoints): it is being worked on.
 * A late checkpoint on a cancelled or settled task is refused like a late state change, so a run
 * that lost its task stops before it touches vendor data (Invariant 11: intent is written first).
 */
export const TASK_EVIDENCE_STATES: readonly TaskState[] = ['queued', 'running', 'waiting_vendor', 'rate_limited'];

/** Every change of a request's status, as data; the guards of src/ledger/requests-ledger.ts derive from it. */
export const REQUEST_TRANSITIONS = {
  /** Its flow is in Redis: it runs now, or once its grace period ends. */
  enqueue: { from: ['received'], to: ['scheduled', 'in_progress'] },
  /** A task of it begins (its grace period is over, or a failed task runs again) or is retried. Never a cancelled one. */
  reopen: { from: ['received', 'scheduled', 'completed', 'completed_with_errors', 'failed'], to: ['in_progress'] },
  /** Every task has ended: the outcome is written once. */
  settle: { from: ['received', 'scheduled', 'in_progress'], to: ['completed', 'completed_with_errors', 'failed'] },
  cancel: { from: ['received', 'scheduled', 'in_progress'], to: ['cancelled'] },
} as const satisfies Record<string, Transition<RequestStatus>>;

export type RequestTransitionName = keyof typeof REQUEST_TRANSITIONS;

/**
 * What a guarded write did: `applied`, or lost to another writer and changed nothing. `state` is
 * the task's state after the write (the one another writer left it in when lost; undefined when
 * there is no such task).
 */
export interface TaskWriteResult {
  applied: boolean;
  state: TaskState | undefined;
}

/** SQL: `<column> IN ('a', 'b')` for a set of states (constants of this module, never input). */
export function stateIn(states: readonly string[], column = 'state'): string {
  return `${column} IN (${states.map((s) => `'${s}'`).join(', ')})`;
}

/** The SQL guard of a task write: the task is in one of the transition's `from` states. */
export function taskGuard(name: TaskTransitionName, column = 'state'): string {
  return stateIn(TASK_TRANSITIONS[name].from, column);
}

/** The SQL guard of a request write. */
export function requestGuard(name: RequestTransitionName, column = 'status'): string {
  return stateIn(REQUEST_TRANSITIONS[name].from, column);
}

/** Refuses (loudly: it is a programming error) a target the transition does not lead to. */
export function checkTaskTarget(name: TaskTransitionName, to: TaskState): void {
  if (!(TASK_TRANSITIONS[name].to as readonly TaskState[]).includes(to))
    throw new Error(`task transition ${name} cannot lead to ${to}`);
}

export function mayTaskMove(name: TaskTransitionName, from: TaskState): boolean {
  return (TASK_TRANSITIONS[name].from as readonly TaskState[]).includes(from);
}

export function mayRequestMove(name: RequestTransitionName, from: RequestStatus): boolean {
  return (REQUEST_TRANSITIONS[name].from as readonly RequestStatus[]).includes(from);
}

/** Whether a transition applies to a record in state `from` (any of this project's tables). */
export function allows<S extends string>(transition: Transition<S>, from: S): boolean {
  return transition.from.includes(from);
}

/** Every (from, to) pair the table allows, for the tests of its shape. */
export function edgesOf<S extends string>(table: Record<string, Transition<S>>): Array<[S, S]> {
  return Object.values(table).flatMap((t) => t.from.flatMap((from) => t.to.map((to): [S, S] => [from, to])));
}

/** A task is open while it has not ended: a job or an operator may still act on it. */
export function isOpenTaskState(state: TaskState | undefined): state is TaskState {
  return state !== undefined && !TERMINAL_TASK_STATES.includes(state);
}
