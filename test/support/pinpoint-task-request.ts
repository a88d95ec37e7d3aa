import type { NewRequest } from '../../src/ledger/request-creation.js';

/**
 * A GDPR request by user id to Pinpoint with one task of `action` on `resource`, due in a day:
 * what the batch tests put in the ledger. The task id is `<request id>__pinpoint__<action>`.
 */
export function pinpointTaskRequest(input: {
  id: string;
  userId: string;
  resource: string;
  action: string;
  jobName: string;
}): NewRequest {
  const { id, userId, resource, action, jobName } = input;
  return {
    id,
    regulation: 'gdpr',
    vendors: ['pinpoint'],
    subject: { userId },
    submittedAt: new Date(),
    dueAt: new Date(Date.now() + 86_400_000),
    tasks: [{ id: `${id}__pinpoint__${action}`, vendor: 'pinpoint', resource, action, queue: 'pinpoint', jobName }],
    actor: 'test',
  };
}
