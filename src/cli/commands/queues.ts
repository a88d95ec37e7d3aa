import { expectPositionals, UsageError, type Command } from '../command.js';
import type { QueueAnswer } from '../api-answers.js';

export const queuesCommand: Command = {
  name: 'queues',
  summary: 'queues pause|resume QUEUE: stop or restart a vendor queue',
  help: `usage: erasure queues pause|resume QUEUE [--json]

Pauses or resumes a queue (a vendor's, like pinpoint, or requests) for every worker. Jobs wait
while it is paused; nothing is lost. Recorded in the audit trail. Needs an operator token.`,
  options: {},
  async run(ctx) {
    const action = ctx.positionals[0];
    if (action !== 'pause' && action !== 'resume')
      throw new UsageError(
        action ? `unknown queues action "${action}"; use pause or resume` : 'queues needs an action: pause or resume',
      );
    const [, queue] = expectPositionals(ctx, ['pause|resume', 'QUEUE'], `queues ${action}`);
    const result = await ctx.client().post<QueueAnswer>(`/v1/queues/${encodeURIComponent(queue)}/${action}`, {});
    if (ctx.json) ctx.io.json(result);
    else {
      ctx.io.out(`queue ${result.queue} is ${result.paused ? 'paused' : 'running'}`);
      // Resuming a vendor whose circuit breaker was open also closes it: its parked tasks run again.
      if (result.breakerClosed)
        ctx.io.out(`circuit breaker closed (was open: ${result.breakerClosed.fault}: ${result.breakerClosed.reason})`);
    }
    return 0;
  },
};
