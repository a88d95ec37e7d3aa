/**
 * The shapes of the API's answers as the CLI reads them (README "HTTP API"): the service's own
 * views (src/api/request-view.ts, src/api/project-deletion-view.ts, src/scope-deletions), after
 * JSON. Fields the CLI does not read are left out; fields an older service may omit are optional.
 */

export interface TaskAnswer {
  id: string;
  vendor: string;
  resource: string;
  action: string;
  state: string;
  attempts: number;
  waitingReason: string | null;
  nextActionAt: string | null;
  error: string | null;
}

export interface NotWithdrawn {
  taskId: string;
  vendor: string;
  reason: string;
}

export interface RequestAnswer {
  id: string;
  status: string;
  regulation: string;
  vendors?: string[];
  subjectHash: string;
  submittedAt: string;
  notBefore?: string | null;
  dueAt: string;
  daysLeft: number;
  overdue?: boolean;
  finishedAt?: string | null;
  atRisk?: boolean;
  atRiskVendors?: Array<{ vendor: string }>;
  progress?: { done: number; total: number; percent: number; failed: number };
  tasks?: TaskAnswer[];
  manualTasksOpen?: number;
  cancel?: { cancelled: unknown[]; withdrawals?: { pending: number; taskIds: string[] }; notWithdrawn: NotWithdrawn[] };
  /** On a submission: the request id was used before, and this is the first request. */
  duplicate?: boolean;
}

export interface RequestPage {
  requests: RequestAnswer[];
  nextCursor?: string | null;
}

export interface ManualWorkItem {
  work: string;
  id: string;
  kind: string;
  vendor: string;
  step: string;
  assignee: string;
  dueAt: string;
}

/** One failed task a retry, skip or resolve touched (or would touch, on a dry run). */
export interface FailedTaskAnswer {
  requestId: string;
  taskId: string;
  vendor: string;
  action: string;
  resource: string;
  failedAt: string | null;
  error: string | null;
}

export interface FailedTasksAnswer {
  tasks?: FailedTaskAnswer[];
}

export interface QueueAnswer {
  queue: string;
  paused: boolean;
  breakerClosed?: { fault: string; reason: string };
}

export interface ProjectDeletionAnswer {
  id: string;
  vendor: string;
  appId: string;
  status: string;
  outcome: string | null;
  cancellable?: boolean;
  reason: string;
  requestedBy: string;
  requestedAt: string;
  gracePeriodDays: number;
  runAt: string;
  s3Locations?: Array<{ bucket: string; prefix: string }>;
  evidence?: {
    app?: { result: string; vendorAnswer?: string; verification?: string };
    s3?: Array<{
      bucket: string;
      prefix: string;
      versionsDeleted: number;
      deleteMarkersDeleted: number;
      verification: string;
    }>;
  } | null;
  error: string | null;
  cancelledAt?: string | null;
  cancelledBy?: string | null;
  cancelReason?: string | null;
  audit?: Array<{ at: string; actor: string; action: string }>;
}

/** What a guided scope deletion asks of the operator: an e-mail to send, or numbered steps in the vendor's UI. */
export type ScopeInstructions =
  | { channel: 'email'; to: string; subject: string; body: string; mailto: string }
  | { channel: 'ui'; where: string; steps: string[] };

export interface ScopeDeletionAnswer {
  id: string;
  kind: string;
  mode: string;
  scope: string;
  status: string;
  runAt?: string;
  sentAt?: string | null;
  sentReference?: string | null;
  cancelDeadline?: string | null;
  expectedBy?: string | null;
  instructions?: ScopeInstructions | null;
  evidence?: { cancel?: { cancellation?: ScopeInstructions } } | null;
}

export interface ScopeKindAnswer {
  kind: string;
  vendor: string;
  mode: string;
  scopeField: string;
  rules?: { cancel: { after: string; days?: number } };
}

/** Per-row answers of a bulk submission. */
export interface BulkAnswer {
  results: Array<{
    index: number;
    outcome: 'accepted' | 'duplicate' | 'conflict' | 'rejected' | 'not_processed';
    id?: string;
    status?: string;
    errors?: Array<{ field: string; problem: string }>;
  }>;
}

/** A signed receipt (src/receipts/receipt.ts) as the CLI prints it. */
export interface ReceiptAnswer {
  receipt: {
    requestId: string;
    regulation: string;
    status: string;
    subjectHash: string;
    submittedAt: string;
    dueAt: string;
    finishedAt?: string | null;
    service?: { name: string; version: string };
    auditChain?: unknown[];
    chainHead?: string | null;
    tasks?: Array<{
      vendor: string;
      resource: string;
      action: string;
      state: string;
      evidence?: Record<string, unknown>;
      verification: string;
      finishedAt: string | null;
      connectorVersion: string;
    }>;
  };
  signature?: { alg: string; keyId: string };
}
