import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, type TestDatabase, type TestService } from './test-service.js';

/** Tokens and a service for the client ownership tests (issue 22): two clients, a viewer and an operator, and the admin token. */
export const CLIENT_A_TOKEN = 'client-a-token-for-ownership-tests-01';
export const CLIENT_B_TOKEN = 'client-b-token-for-ownership-tests-02';
export const VIEWER_TOKEN = 'viewer-token-for-ownership-tests-0003';
export const OPERATOR_TOKEN = 'operator-token-for-ownership-tests-04';
const PROCESSOR_DOMAIN = 'erasure.test';

/** A service with two clients and two staff tokens; intake only (no worker), so requests stay as submitted. */
export function ownershipService(database: TestDatabase): Promise<TestService> {
  return startTestService({
    database,
    roles: { api: true, workers: [] },
    file: {
      tokens: [
        { name: 'client-a', sha256: sha256Hex(CLIENT_A_TOKEN), role: 'submitter' },
        { name: 'client-b', sha256: sha256Hex(CLIENT_B_TOKEN), role: 'submitter' },
        { name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
        { name: 'on-call', sha256: sha256Hex(OPERATOR_TOKEN), role: 'operator' },
      ],
      opendsr: { processorDomain: PROCESSOR_DOMAIN },
    },
  });
}

export function openDsrRequest(subjectRequestId: string, userId: string) {
  return {
    regulation: 'gdpr',
    subject_request_id: subjectRequestId,
    subject_request_type: 'erasure',
    submitted_time: new Date(Date.now() - 3_600_000).toISOString(),
    subject_identities: [{ identity_type: 'controller_customer_id', identity_value: userId, identity_format: 'raw' }],
    api_version: '2.0',
    extensions: { [PROCESSOR_DOMAIN]: { grace_period_seconds: 3600, vendors: ['pinpoint'] } },
  };
}
