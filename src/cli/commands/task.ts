import { expectPositionals, requiredString, UsageError, type Command } from '../command.js';
import { formatRequest } from './status.js';

export const taskCommand: Command = {
  name: 'task',
  summary: 'task complete REQUEST_ID TASK_ID --note NOTE: record a manual task as done',
  help: `usage: erasure task complete REQUEST_ID TASK_ID --note NOTE [--json]

Records a manual task (one waiting_manual, e.g. a deletion only the vendor's support can do) as
done, with a note saying how (ticket number, who confirmed). The request settles when its last
task ends. Do not put the person's identifiers in the note. Exit code 1 when no manual task with
that id is waiting.`,
  options: { note: { type: 'string' } },
  async run(ctx) {
    if (ctx.positionals[0] !== 'complete') throw new UsageError(ctx.positionals[0] ? `unknown task action "${ctx.positionals[0]}"; the action is: complete` : 'task needs an action: task complete REQUEST_ID TASK_ID --note NOTE');
    const [, requestId, taskId] = expectPositionals(ctx, ['complete', 'REQUEST_ID', 'TASK_ID'], 'task complete');
    const note = requiredString(ctx, 'note', 'how the manual task was done');
    const result = await ctx.client().post(`/v1/requests/${encodeURIComponent(requestId!)}/tasks/${encodeURIComponent(taskId!)}/complete`, { note });
    if (ctx.json) ctx.io.json(result);
    else ctx.io.out(formatRequest(result));
    return 0;
  },
};
