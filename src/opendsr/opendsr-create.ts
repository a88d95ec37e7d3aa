import type { Request, Response } from 'express';
import type { RequestRecord } from '../ledger/ledger-types.js';
import { IdempotencyKeyReusedError, RequestValidationError, type SubmitResult } from '../intake/intake.js';
import { canonicalJson } from '../privacy/canonical-json.js';
import { JsonBodyError, parseJsonBody } from '../api/json-body-policy.js';
import type { Principal } from '../api/auth.js';
import type { OpenDsrFlavor } from './opendsr-signer.js';
import type { OpenDsrRecord } from './opendsr-store.js';
import {
  fromNativeProblems,
  OpenDsrRequestError,
  parseOpenDsrRequest,
  type ParsedOpenDsrRequest,
} from './opendsr-request.js';
import { OpenDsrHttpError } from './opendsr-http-error.js';
import type { OpenDsrRouterDeps, Responders } from './opendsr-router.js';

export const apiVersion = (flavor: OpenDsrFlavor) => (flavor === 'v1' ? '1.0' : '2.0');

/** The create answer (§7.3); a repeat of the same request gets the same answer. */
function createdBody(record: OpenDsrRecord, request: RequestRecord, rawBody: Buffer) {
  return {
    api_version: record.apiVersion,
    controller_id: record.controllerId,
    expected_completion_time: request.dueAt.toISOString(),
    received_time: record.receivedAt.toISOString(),
    // The spec wants the whole request back, base64: answered, never stored or logged.
    encoded_request: rawBody.toString('base64'),
    subject_request_id: record.subjectRequestId,
  };
}

/** A controller's subject_request_id with another body: the native rule for a reused key (422), nothing created. */
const reusedKey = () =>
  new OpenDsrHttpError(
    422,
    'subject_request_id was already used by this controller for a different request; nothing was created',
    [
      {
        reason: 'idempotency_key_reused',
        message:
          'subject_request_id was already used for a different request; send a new subject_request_id for a new request',
      },
    ],
  );

/** POST: a new request through the native intake, or the same answer for a repeat. */
export function creator(deps: OpenDsrRouterDeps, { send, authorised }: Responders) {
  const { signer, store, ledger } = deps;
  async function answerRepeat(
    res: Response,
    flavor: OpenDsrFlavor,
    record: OpenDsrRecord,
    bodyHash: string,
    rawBody: Buffer,
  ) {
    if (record.bodyHash !== bodyHash) throw reusedKey();
    const request = await ledger.requests.getRequest(record.requestId);
    // The ledger keeps a request its OpenDSR record names; a missing one is a fault (500), as before.
    if (!request) throw new Error('the request of a recorded OpenDSR submission is missing');
    send(res, flavor, 201, createdBody(record, request, rawBody));
  }

  const create = (flavor: OpenDsrFlavor) => async (req: Request, res: Response) => {
    const principal = await authorised(req, res, 'submitter');
    if (!req.is('application/json')) throw new OpenDsrHttpError(415, 'send the body as application/json');
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let body: unknown;
    try {
      body = parseJsonBody(rawBody);
    } catch (err) {
      const message = err instanceof JsonBodyError ? err.message : 'the body is not valid JSON';
      throw new OpenDsrHttpError(400, message, [
        { reason: err instanceof JsonBodyError ? err.code : 'invalid_json', message },
      ]);
    }
    const parsed = parseOpenDsrRequest(body, flavor, signer.domain, {
      gracePeriodSeconds: deps.config.opendsr?.gracePeriodSeconds ?? 0,
    });
    const bodyHash = ledger.vault.hash('opendsr-body', canonicalJson(body));

    const existing = await store.bySubjectRequestId(principal.name, parsed.subjectRequestId);
    if (existing) return answerRepeat(res, flavor, existing, bodyHash, rawBody);

    await checkCallbackUrls(deps, parsed.statusCallbackUrls);

    const { result, record } = await submitThroughIntake(deps, { parsed, principal, bodyHash, flavor });
    if (!result.created || !record) {
      // Another call with the same subject_request_id committed first.
      const winner = await store.bySubjectRequestId(principal.name, parsed.subjectRequestId);
      if (!winner)
        throw new OpenDsrHttpError(409, 'subject_request_id is in use', [
          { reason: 'duplicate_subject_request_id', message: 'send a new subject_request_id' },
        ]);
      return answerRepeat(res, flavor, winner, bodyHash, rawBody);
    }
    deps.logger.info('opendsr request accepted', {
      requestId: result.request.id,
      subjectRequestId: parsed.subjectRequestId,
      apiVersion: record.apiVersion,
    });
    send(res, flavor, 201, createdBody(record, result.request, rawBody));
  };

  return create;
}

/** The callback URLs the address check refuses, all at once, as the spec's 400. */
async function checkCallbackUrls(deps: OpenDsrRouterDeps, urls: string[]): Promise<void> {
  const refused: Array<{ reason: string; message: string }> = [];
  for (const [index, url] of urls.entries()) {
    const problem = await deps.checkCallbackUrl(url);
    if (problem) refused.push({ reason: 'callback_url_refused', message: `status_callback_urls.${index} ${problem}` });
  }
  if (refused.length) throw new OpenDsrHttpError(400, 'a status callback URL is refused', refused);
}

/** Submits through the native intake, its OpenDSR record written in the request's own transaction. */
async function submitThroughIntake(
  deps: OpenDsrRouterDeps,
  input: { parsed: ParsedOpenDsrRequest; principal: Principal; bodyHash: string; flavor: OpenDsrFlavor },
): Promise<{ result: SubmitResult; record: OpenDsrRecord | undefined }> {
  const { parsed, principal, bodyHash, flavor } = input;
  const receivedAt = new Date();
  let record: OpenDsrRecord | undefined;
  try {
    const result = await deps.intake.submit(parsed.nativeBody, `opendsr:${principal.name}`, '', {
      client: principal.name,
      idempotencyKey: `opendsr:${parsed.subjectRequestId}`,
      idempotencyKeyField: 'subject_request_id',
      origin: 'opendsr',
      submittedAt: parsed.submittedTime,
      afterInsert: async (tx, request) => {
        record = {
          subjectRequestId: parsed.subjectRequestId,
          requestId: request.id,
          controllerId: principal.name,
          bodyHash,
          statusCallbackUrls: parsed.statusCallbackUrls,
          apiVersion: apiVersion(flavor),
          receivedAt,
        };
        await deps.store.insert(tx, record);
      },
    });
    return { result, record };
  } catch (err) {
    if (err instanceof RequestValidationError) throw new OpenDsrRequestError(400, fromNativeProblems(err.problems));
    // Another call with this subject_request_id and another person committed first.
    if (err instanceof IdempotencyKeyReusedError) throw reusedKey();
    throw err;
  }
}
