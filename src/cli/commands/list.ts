import { positiveInt, stringFlag, table, type Command } from '../command.js';
import type { ManualWorkItem, RequestAnswer, RequestPage } from '../api-answers.js';
import type { ApiClient } from '../api-client.js';

const PAGE_MAX = 500;

export const listCommand: Command = {
  name: 'list',
  summary: 'requests, newest first, with filters',
  help: `usage: erasure list [--status STATUS] [--overdue] [--at-risk] [--client NAME] [--limit N] [--json]

Lists requests, newest first, following the API's pages until N requests (default 50). A client
(submitter token) lists its own requests; staff tokens list every client's.
  --status STATUS  received, scheduled, in_progress, completed, completed_with_errors, failed, cancelled
  --overdue        only open requests past their deadline, then the manual work past its due
                   time (manual tasks and guided scope deletions, with their assignees)
  --at-risk        only open requests a vendor is expected to finish after the deadline
                   (at its observed p95 task duration); the vendors are shown
  --client NAME    only the requests of the client NAME (a token name; staff tokens only)
  --limit N        at most N requests (default 50)
  --page-size N    requests per API call (default and most: 500)`,
  options: {
    status: { type: 'string' },
    overdue: { type: 'boolean' },
    'at-risk': { type: 'boolean' },
    client: { type: 'string' },
    limit: { type: 'string' },
    'page-size': { type: 'string' },
  },
  async run(ctx) {
    const limit = positiveInt(stringFlag(ctx, 'limit'), '--limit', 50, 1_000_000);
    const pageSize = positiveInt(stringFlag(ctx, 'page-size'), '--page-size', PAGE_MAX, PAGE_MAX);
    const client = ctx.client();
    const requests: RequestAnswer[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.get<RequestPage>('/v1/requests', {
        status: stringFlag(ctx, 'status'),
        overdue: ctx.values.overdue ? 'true' : undefined,
        atRisk: ctx.values['at-risk'] ? 'true' : undefined,
        client: stringFlag(ctx, 'client'),
        limit: Math.min(pageSize, limit - requests.length),
        cursor,
      });
      requests.push(...page.requests);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && requests.length < limit);
    const more = Boolean(cursor);
    const manualWork = ctx.values.overdue ? await overdueManualWork(client) : [];
    if (ctx.json) {
      ctx.io.json({ requests, more, ...(ctx.values.overdue ? { manualWork } : {}) });
      return 0;
    }
    if (manualWork.length) {
      ctx.io.out(`overdue manual work (${manualWork.length}):`);
      ctx.io.out(
        table(
          ['WORK', 'ID', 'KIND', 'VENDOR', 'STEP', 'ASSIGNEE', 'DUE'],
          manualWork.map((w) => [w.work, w.id, w.kind, w.vendor, w.step, w.assignee, w.dueAt]),
        ),
      );
      ctx.io.out('');
    }
    if (requests.length === 0) {
      ctx.io.out('no requests');
      return 0;
    }
    ctx.io.out(
      table(
        ['ID', 'STATUS', 'REGULATION', 'VENDORS', 'SUBMITTED', 'DUE', 'DAYS LEFT'],
        requests.map((r) => [
          r.id,
          r.status,
          r.regulation,
          (r.vendors ?? []).join(','),
          r.submittedAt,
          r.dueAt,
          `${r.daysLeft}${r.overdue ? ' OVERDUE' : ''}${r.atRisk ? ` AT RISK (${(r.atRiskVendors ?? []).map((v) => v.vendor).join(',')})` : ''}`,
        ]),
      ),
    );
    ctx.io.out(`${requests.length} request(s)${more ? `; more exist: raise --limit` : ''}`);
    return 0;
  },
};

/** The manual work past its due time; an older service without `/v1/manual-work` has none to show. */
async function overdueManualWork(client: ApiClient): Promise<ManualWorkItem[]> {
  const answer = await client
    .get<{ manualWork?: ManualWorkItem[] }>('/v1/manual-work', { overdue: 'true' })
    .catch(() => ({ manualWork: [] }));
  return answer.manualWork ?? [];
}
