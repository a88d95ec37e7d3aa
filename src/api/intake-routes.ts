import type { Request, Response, Router } from 'express';
import { IdempotencyKeyReusedError, IntakeUnavailableError, RequestValidationError } from '../intake/intake.js';
import { requireRole } from './auth.js';
import { requestView } from './request-view.js';
import { ApiError } from './api-error.js';
import type { RequestsRouterDeps } from './requests-router.js';

/** POST /v1/requests: one request, or a bulk body `{ requests: [...] }`. */
export function addIntakeRoutes(router: Router, deps: RequestsRouterDeps): void {
  router.post('/v1/requests', requireRole('submitter'), async (req: Request, res: Response) => {
    const body = req.body as unknown;
    if (isBulk(body)) {
      await submitBulk(deps, req, res, body.requests);
      return;
    }
    const result = await deps.intake.submit(body, actorOf(req), '', { client: clientOf(req) });
    res
      .status(result.created ? 202 : 200)
      .location(`/v1/requests/${result.request.id}`)
      .json({ ...requestView(result.request), duplicate: !result.created });
  });
}

type BulkResult = Record<string, unknown> & { outcome: string };

/** Each item's answer from intake, counted. */
async function bulkAnswers(deps: RequestsRouterDeps, req: Request, items: unknown[], results: BulkResult[]) {
  const counts = { accepted: 0, duplicates: 0, conflicts: 0 };
  const answers = await deps.intake.submitMany(items, actorOf(req), (index) => `requests[${index}].`, clientOf(req));
  for (const [index, answer] of answers.entries()) {
    if (answer instanceof RequestValidationError) {
      results.push({ index, outcome: 'rejected', errors: answer.problems });
      continue;
    }
    if (answer instanceof IdempotencyKeyReusedError) {
      // Same rule as a single submission (422): nothing created, the key's field named, no value.
      counts.conflicts += 1;
      results.push({ index, outcome: 'conflict', code: 'idempotency_key_reused', errors: answer.problems });
      continue;
    }
    if (answer.created) counts.accepted += 1;
    else counts.duplicates += 1;
    results.push({
      index,
      outcome: answer.created ? 'accepted' : 'duplicate',
      id: answer.request.id,
      status: answer.request.status,
    });
  }
  return counts;
}

async function submitBulk(deps: RequestsRouterDeps, req: Request, res: Response, items: unknown) {
  const max = deps.config.intake.maxBulk;
  if (!Array.isArray(items) || items.length === 0)
    throw new ApiError(400, 'invalid_request', 'requests must be a non-empty list');
  if (Object.keys(req.body as object).length !== 1)
    throw new ApiError(400, 'invalid_request', 'a bulk body holds only "requests"');
  if (items.length > max)
    throw new ApiError(413, 'too_many_requests_in_bulk', `at most ${max} requests per bulk call; split the list`);
  const list: unknown[] = items;
  const results: BulkResult[] = [];
  let counts = { accepted: 0, duplicates: 0, conflicts: 0 };
  try {
    counts = await bulkAnswers(deps, req, list, results);
  } catch (err) {
    if (!(err instanceof IntakeUnavailableError)) throw err;
    // The valid requests commit together or not at all: none of them was recorded. Say which were bad anyway.
    for (const [index, item] of list.entries()) {
      try {
        deps.intake.validate(item, `requests[${index}].`);
        results.push({ index, outcome: 'not_processed', reason: err.message });
      } catch (invalid) {
        if (!(invalid instanceof RequestValidationError)) throw invalid;
        results.push({ index, outcome: 'rejected', errors: invalid.problems });
      }
    }
  }
  const { accepted, duplicates, conflicts } = counts;
  const rejected = results.filter((r) => r.outcome === 'rejected').length;
  const notProcessed = results.filter((r) => r.outcome === 'not_processed').length;
  const summary = { accepted, duplicates, conflicts, rejected, notProcessed };
  if (!notProcessed && !accepted && !duplicates) {
    if (!rejected)
      return res.status(422).json({
        error: {
          code: 'idempotency_key_reused',
          message: 'every request in the bulk submission reused a requestId for another payload; see results',
        },
        summary,
        results,
      });
    return res.status(400).json({
      error: { code: 'invalid_request', message: 'no request in the bulk submission was valid; see results' },
      summary,
      results,
    });
  }
  res.status(notProcessed ? 503 : accepted ? 202 : 200).json({ summary, results });
}

function isBulk(body: unknown): body is { requests: unknown } {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'requests' in body;
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}

/** The submitting token's name: every route here is behind requireRole, which needs a principal. */
function clientOf(req: Request): string {
  if (!req.principal) throw new ApiError(401, 'unauthorized', 'no credentials');
  return req.principal.name;
}
