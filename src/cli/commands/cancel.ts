import { expectPositionals, requiredString, type Command } from '../command.js';
import { formatRequest } from './status.js';
import type { RequestAnswer } from '../api-answers.js';

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a request (with a reason): stops what has not run, says what already happened',
  help: `usage: erasure cancel REQUEST_ID --reason REASON [--json]

Cancels a request. Tasks that have not run are stopped; the withdrawal of started ones is queued
at the vendor where it allows that (\`erasure status\` shows each outcome when it has run); the
answer says what is pending and what already happened. The reason goes to the audit trail.
Exit code 1 when the request had already ended or does not exist.`,
  options: { reason: { type: 'string' } },
  async run(ctx) {
    const [id] = expectPositionals(ctx, ['REQUEST_ID'], 'cancel');
    const reason = requiredString(ctx, 'reason', 'why the request is cancelled (recorded in the audit trail)');
    const result = await ctx.client().post<RequestAnswer>(`/v1/requests/${encodeURIComponent(id)}/cancel`, { reason });
    if (ctx.json) ctx.io.json(result);
    else ctx.io.out(formatRequest(result));
    return 0;
  },
};
