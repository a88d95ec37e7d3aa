import { UnrecoverableError } from 'bullmq';
import type { Ledger } from '../src/ledger/ledger.js';
import type { RequestStatus } from '../src/ledger/ledger-types.js';
import type { ReceiptSigner } from '../src/receipts/receipt-signer.js';
import type { CallbackJobData } from '../src/callbacks/status-notifier.js';
import { CallbackRefusedError, type CallbackPolicy } from '../src/callbacks/callback-target.js';
import { CallbackDeliveryError, postCallback } from '../src/callbacks/post-callback.js';
import type { OpenDsrSigner } from '../src/opendsr/opendsr-signer.js';
import type { OpenDsrStore } from '../src/opendsr/opendsr-store.js';
import { callbackBody } from '../src/opendsr/opendsr-status.js';

export interface DeliverCallbackDeps {
  ledger: Ledger;
  /** Signs native callbacks (Ed25519, the receipt key: `GET /v1/receipt-key`). */
  signer: ReceiptSigner;
  /** Signs OpenDSR callbacks (RSA-SHA256, the processor certificate); absent when OpenDSR is off. */
  opendsr?: { store: OpenDsrStore; signer: OpenDsrSigner };
  policy: CallbackPolicy;
  timeoutMs: number;
  post?: typeof postCallback;
}

interface CallbackJob {
  data: CallbackJobData;
  attemptsMade: number;
  opts: { attempts?: number };
}

/** What is sent and where, built at delivery from the ledger (the job holds ids only). */
async function prepare(
  job: CallbackJob,
  deps: DeliverCallbackDeps,
): Promise<{ url: string; body: Buffer; headers: Record<string, string> } | undefined> {
  const { data } = job;
  const request = await deps.ledger.requests.getRequest(data.requestId);
  if (!request) return undefined;
  if (data.format === 'native') {
    if (!request.callbackUrl) return undefined;
    // Ids and status only: nothing that names the person.
    const body = Buffer.from(JSON.stringify({ requestId: request.id, status: data.status, updatedAt: data.at }));
    return {
      url: request.callbackUrl,
      body,
      headers: {
        'X-Erasure-Signature': deps.signer.sign(body.toString('utf8')),
        'X-Erasure-Key-Id': deps.signer.keyId,
      },
    };
  }
  if (!deps.opendsr)
    throw new UnrecoverableError('OpenDSR is not configured in this worker: no key to sign the callback');
  const record = await deps.opendsr.store.byRequestId(request.id);
  const url = record?.statusCallbackUrls[data.urlIndex ?? 0];
  if (!record || !url) return undefined;
  const body = Buffer.from(
    JSON.stringify(
      callbackBody(record, request, deps.opendsr.signer.domain, url, data.status as RequestStatus, data.at),
    ),
  );
  return { url, body, headers: deps.opendsr.signer.headers(body, record.apiVersion === '1.0' ? 'v1' : 'v2') };
}

/**
 * Delivers one signed status callback. A non-2xx answer, a timeout or a network error is retried
 * with backoff; an address that turns out private at delivery (DNS may have changed since the
 * submission check) is refused for good. The outcome goes to the request's audit trail when it is
 * final (delivered, refused, or the last attempt failed), without the URL.
 */
export async function deliverCallback(
  job: CallbackJob,
  deps: DeliverCallbackDeps,
): Promise<{ delivered: boolean; httpStatus?: number }> {
  const target = await prepare(job, deps);
  if (!target) return { delivered: false };
  const attempt = job.attemptsMade + 1;
  const detail = { format: job.data.format, status: job.data.status, urlIndex: job.data.urlIndex ?? 0, attempt };
  try {
    const httpStatus = await (deps.post ?? postCallback)(target.url, target.body, target.headers, {
      policy: deps.policy,
      timeoutMs: deps.timeoutMs,
    });
    await deps.ledger.audit.append(job.data.requestId, 'system', 'callback.delivered', { ...detail, httpStatus });
    return { delivered: true, httpStatus };
  } catch (err) {
    if (err instanceof CallbackRefusedError) {
      await deps.ledger.audit.append(job.data.requestId, 'system', 'callback.refused', {
        ...detail,
        reason: err.message,
      });
      throw new UnrecoverableError(err.message);
    }
    const message = err instanceof CallbackDeliveryError ? err.message : 'callback delivery failed';
    if (attempt >= (job.opts.attempts ?? 1))
      await deps.ledger.audit.append(job.data.requestId, 'system', 'callback.failed', { ...detail, error: message });
    throw new CallbackDeliveryError(message, err instanceof CallbackDeliveryError ? err.httpStatus : undefined);
  }
}
