import type { RequestRecord, RequestStatus } from '../ledger/ledger-types.js';
import type { OpenDsrRecord } from './opendsr-store.js';

/** OpenDSR 2.0 request statuses (spec §8; British `cancelled`). */
export type OpenDsrStatus = 'pending' | 'in_progress' | 'completed' | 'cancelled';

/**
 * Our lifecycle in OpenDSR terms. The spec has no failed status (README "Callbacks and OpenDSR"):
 * a failed request is still ours to finish (on-call retries it), so it reads `in_progress`, and the
 * extension field `status` under our processor domain says `failed`. `completed_with_errors`
 * reads `completed` with the extension saying which.
 */
export function openDsrStatus(status: RequestStatus): OpenDsrStatus {
  switch (status) {
    case 'received':
    case 'scheduled':
      return 'pending';
    case 'completed':
    case 'completed_with_errors':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    case 'in_progress':
    case 'failed':
      return 'in_progress';
  }
}

/** Whether a change of our status is a state change an OpenDSR controller hears about (callbacks). */
export function isOpenDsrStateChange(from: RequestStatus, to: RequestStatus): boolean {
  return from !== to && !(openDsrStatus(from) === 'pending' && openDsrStatus(to) === 'pending');
}

/** Our extension object, keyed by the processor domain (spec: extensions are keyed by domain). */
function extensions(domain: string, request: RequestRecord, status: RequestStatus, updatedAt: string) {
  return { [domain]: { status, request_id: request.id, updated_at: updatedAt } };
}

/** `GET /v2/requests/{id}` body (spec §8.2). No `results_count`: an erasure has no results to count. */
export function statusBody(record: OpenDsrRecord, request: RequestRecord, domain: string) {
  return {
    api_version: record.apiVersion,
    controller_id: record.controllerId,
    expected_completion_time: request.dueAt.toISOString(),
    subject_request_id: record.subjectRequestId,
    request_status: openDsrStatus(request.status),
    extensions: extensions(domain, request, request.status, request.updatedAt.toISOString()),
  };
}

/** A status callback body (spec §8.5): `status` is the status the change moved the request to. */
export function callbackBody(
  record: OpenDsrRecord,
  request: RequestRecord,
  domain: string,
  url: string,
  status: RequestStatus,
  updatedAt: string,
) {
  return {
    api_version: record.apiVersion,
    controller_id: record.controllerId,
    expected_completion_time: request.dueAt.toISOString(),
    status_callback_url: url,
    subject_request_id: record.subjectRequestId,
    request_status: openDsrStatus(status),
    extensions: extensions(domain, request, status, updatedAt),
  };
}
