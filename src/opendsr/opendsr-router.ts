import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config, Role } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { RequestRecord } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import { IntakeUnavailableError, type Intake } from '../intake/intake.js';
import { cancelRequest } from '../operations/cancel-request.js';
import { bodyFailureAnswer } from '../api/json-body-policy.js';
import { hasRole, type Principal } from '../api/auth.js';
import { clientScope } from '../api/access.js';
import type { CredentialGate, IntakeRateLimiter } from '../api/credential-gate.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { OpenDsrFlavor, OpenDsrSigner } from './opendsr-signer.js';
import type { OpenDsrRecord, OpenDsrStore } from './opendsr-store.js';
import { openDsrStatus, statusBody } from './opendsr-status.js';
import { isSubjectRequestId, OpenDsrRequestError, SUPPORTED_IDENTITIES } from './opendsr-request.js';
import { OpenDsrHttpError } from './opendsr-http-error.js';
import { apiVersion, creator } from './opendsr-create.js';

export interface OpenDsrRouterDeps {
  config: Config;
  ledger: Ledger;
  intake: Intake;
  store: OpenDsrStore;
  signer: OpenDsrSigner;
  verify: (token: string) => Principal | undefined;
  /** The one authentication gate and failure limiter (src/api/credential-gate.ts): Bearer only here. */
  gate: CredentialGate;
  /** Per-token intake rate limits (`tokens[].rateLimit`). */
  intakeLimiter: IntakeRateLimiter;
  /** This service's own listening URL: the certificate URL in sandbox mode when `opendsr.publicUrl` is unset. */
  selfUrl: () => string;
  /** Where a cancel queues the withdrawal of started tasks (src/operations/cancel-request.ts). */
  queues: QueueSet;
  logger: Logger;
  /** The callback address check (src/callbacks/callback-target.ts): a problem, or undefined. */
  checkCallbackUrl: (url: string) => Promise<string | undefined>;
}

/** Where the processor certificate is served (its URL is `processor_certificate` in discovery). */
export const CERTIFICATE_PATH = '/v2/certificate.pem';

/**
 * How `X-OpenDSR-Signature` / `X-OpenGDPR-Signature` is made (src/opendsr/opendsr-signer.ts):
 * RSASSA-PKCS1-v1_5 with SHA-256 over the raw body bytes, base64. Named in discovery and README.
 */
export const SIGNATURE_ALGORITHM = 'RSASSA-PKCS1-v1_5-SHA256';

/** The spec's paths, and the OpenGDPR 1.0 aliases that must keep working (§10.1). No clash with native `/v1/requests`. */
const PATHS = {
  v2: { discovery: '/v2/discovery', requests: '/v2/requests' },
  v1: { discovery: '/v1/discovery', requests: '/v1/opengdpr_requests' },
} as const;

function isOpenDsrPath(p: string): boolean {
  return (
    p === '/v2' ||
    p.startsWith('/v2/') ||
    p === PATHS.v1.discovery ||
    p === PATHS.v1.requests ||
    p.startsWith(`${PATHS.v1.requests}/`)
  );
}

/** Signed answers and the authentication gate, shared by every OpenDSR route. */
function responders(deps: OpenDsrRouterDeps) {
  const { signer } = deps;
  function send(res: Response, flavor: OpenDsrFlavor, status: number, body: unknown, contentType = 'application/json') {
    const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    // Status answers describe a person's request: never kept by a cache on the way (issue 25 §5).
    res
      .status(status)
      .set(signer.headers(bytes, flavor))
      .set('Cache-Control', 'no-store')
      .type(contentType)
      .send(bytes);
  }

  /** The gate's verdict as the spec's errors: 401, 403, or 429 with Retry-After once an address failed too often. */
  async function authorised(req: Request, res: Response, role: Role): Promise<Principal> {
    if (req.principal) {
      if (!hasRole(req.principal, role))
        throw new OpenDsrHttpError(403, `this needs the ${role} role`, [], 'Authentication');
      return req.principal;
    }
    const result = await deps.gate.check(req, { cookies: false });
    if (!result.ok) {
      if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
      throw new OpenDsrHttpError(
        result.status,
        result.status === 429 ? result.message : 'a valid bearer token is required',
        [],
        'Authentication',
      );
    }
    if (!hasRole(result.principal, role))
      throw new OpenDsrHttpError(403, `this needs the ${role} role`, [], 'Authentication');
    req.principal = result.principal;
    return result.principal;
  }

  /** Authenticates (and rate-limits) a submission before its body is read. */
  const authFirst = (role: Role) => async (req: Request, res: Response, next: NextFunction) => {
    const principal = await authorised(req, res, role);
    const waitMs = deps.intakeLimiter.take(principal.name);
    if (waitMs > 0) {
      res.set('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
      throw new OpenDsrHttpError(
        429,
        'this token has submitted too many requests; wait and retry',
        [{ reason: 'rate_limited', message: 'wait for Retry-After seconds' }],
        'RateLimit',
      );
    }
    next();
  };

  /** The certificate URL in signed discovery: configuration only, never the request's Host header (issue 25 §9). */
  function certificateUrl(): string {
    const base = deps.config.opendsr?.publicUrl ?? deps.selfUrl();
    return new URL(CERTIFICATE_PATH, base).toString();
  }

  const discovery = (flavor: OpenDsrFlavor) => (_req: Request, res: Response) => {
    send(res, flavor, 200, {
      api_version: apiVersion(flavor),
      supported_identities: SUPPORTED_IDENTITIES.map(({ identity_type, identity_format }) => ({
        identity_type,
        identity_format,
      })),
      supported_subject_request_types: ['erasure'],
      processor_certificate: certificateUrl(),
      // Stated, not left to guess (issue 25, item 10): the spec names only FIPS 186-4, which allows
      // PSS as well; a verifier that tries PSS fails on every answer.
      signature_algorithm: SIGNATURE_ALGORITHM,
    });
  };

  const notSupported = (flavor: OpenDsrFlavor) => (_req: Request, res: Response) => {
    res.set('Allow', 'GET, DELETE');
    send(res, flavor, 405, {
      error: { code: 405, message: 'requests cannot be updated; cancel and send a new one', errors: [] },
    });
  };

  return { send, authorised, authFirst, discovery, notSupported };
}

export type Responders = ReturnType<typeof responders>;

/** GET and DELETE of one request, found by its subject_request_id. */
function readers(deps: OpenDsrRouterDeps, { send, authorised }: Responders) {
  const { signer, store, ledger } = deps;
  /**
   * A controller finds its own requests only: another controller's subject_request_id answers 404
   * exactly as an unknown one (README "Clients, roles and idempotency"). Staff find any controller's; when two
   * controllers used the same id, staff are told to read it by the native id instead.
   */
  async function find(principal: Principal, id: string): Promise<{ record: OpenDsrRecord; request: RequestRecord }> {
    const scope = clientScope(principal);
    let record: OpenDsrRecord | undefined;
    if (isSubjectRequestId(id)) {
      if (scope !== undefined) record = await store.bySubjectRequestId(scope, id);
      else {
        const found = await store.allBySubjectRequestId(id);
        if (found.length > 1) {
          throw new OpenDsrHttpError(
            409,
            'several controllers used this subject_request_id; read it by its native id at /v1/requests/:id',
            [{ reason: 'ambiguous_subject_request_id', message: 'several controllers used this subject_request_id' }],
            'State',
          );
        }
        record = found[0];
      }
    }
    const request = record ? await ledger.requests.getRequest(record.requestId) : undefined;
    if (!record || !request) throw new OpenDsrHttpError(404, 'no request with that subject_request_id', [], 'NotFound');
    return { record, request };
  }

  const status = (flavor: OpenDsrFlavor) => async (req: Request, res: Response) => {
    const principal = await authorised(req, res, 'viewer');
    const { record, request } = await find(principal, String(req.params.id));
    send(res, flavor, 200, statusBody(record, request, signer.domain));
  };

  /** §9: only while pending; 202. A repeat of a cancel that took effect answers 202 again. */
  const cancel = (flavor: OpenDsrFlavor) => async (req: Request, res: Response) => {
    const principal = await authorised(req, res, 'submitter');
    const { record, request } = await find(principal, String(req.params.id));
    const receivedTime = new Date().toISOString();
    const accepted = () => {
      send(res, flavor, 202, {
        api_version: record.apiVersion,
        controller_id: record.controllerId,
        received_time: receivedTime,
        subject_request_id: record.subjectRequestId,
      });
    };
    const notPending = (current: RequestRecord) =>
      new OpenDsrHttpError(
        400,
        `the request is ${openDsrStatus(current.status)}; it can only be cancelled while pending`,
        [{ reason: 'not_pending', message: 'cancellation is allowed only while the request is pending' }],
        'State',
      );
    if (request.status === 'cancelled') {
      accepted();
      return;
    }
    if (openDsrStatus(request.status) !== 'pending') throw notPending(request);
    await cancelRequest(
      { ledger, queues: deps.queues },
      {
        requestId: request.id,
        actor: `opendsr:${principal.name}`,
        reason: 'cancelled by the controller (OpenDSR DELETE)',
      },
    );
    const after = await ledger.requests.getRequest(request.id);
    if (!after) throw new Error('a cancelled request is missing from the ledger');
    if (after.status !== 'cancelled') throw notPending(after);
    accepted();
  };

  return { status, cancel };
}

/** Errors of OpenDSR routes only, in the spec's shape and signed; any other path's error passes on. */
function openDsrErrors(deps: OpenDsrRouterDeps, { send }: Responders) {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!isOpenDsrPath(req.path)) {
      next(err);
      return;
    }
    const flavor: OpenDsrFlavor = req.path.startsWith('/v1/') ? 'v1' : 'v2';
    const envelope = (
      code: number,
      message: string,
      errors: Array<{ reason: string; message: string }> = [],
      domain = 'Validation',
    ) => ({
      error: { code, message, errors: errors.map((e) => ({ domain, ...e })) },
    });
    if (err instanceof OpenDsrHttpError) {
      send(res, flavor, err.status, envelope(err.status, err.message, err.errors, err.domain));
      return;
    }
    if (err instanceof OpenDsrRequestError) {
      send(res, flavor, err.status, envelope(err.status, 'the request is not valid; see errors', err.problems));
      return;
    }
    if (err instanceof IntakeUnavailableError) {
      res.set('Retry-After', '5');
      send(res, flavor, 503, envelope(503, err.message, [], 'Availability'));
      return;
    }
    const bodyFailure = bodyFailureAnswer(err, deps.config.intake.bodyLimitBytes);
    if (bodyFailure) {
      send(
        res,
        flavor,
        bodyFailure.status,
        envelope(bodyFailure.status, bodyFailure.message, [{ reason: bodyFailure.code, message: bodyFailure.message }]),
      );
      return;
    }
    deps.logger.error('unhandled error in an OpenDSR handler', {
      errorName: err instanceof Error ? err.name : typeof err,
    });
    send(res, flavor, 500, envelope(500, 'internal error', [], 'Internal'));
  };
}

/**
 * The OpenDSR 2.0 processor API (README "Callbacks and OpenDSR"): discovery, create, status, cancel,
 * each answer signed (`X-OpenDSR-Signature`, RSASSA-PKCS1-v1_5 / SHA-256 over the raw body bytes, base64). Requests
 * go through the native intake (same validation, planning and ledger commit); the body itself is
 * never stored or logged, only a keyed hash of it.
 */
export function createOpenDsrRouter(deps: OpenDsrRouterDeps) {
  const { signer } = deps;
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: deps.config.intake.bodyLimitBytes });
  const responding = responders(deps);
  const { send, authFirst, discovery, notSupported } = responding;
  const create = creator(deps, responding);
  const { status, cancel } = readers(deps, responding);

  for (const flavor of ['v2', 'v1'] as const) {
    const paths = PATHS[flavor];
    router.get(paths.discovery, discovery(flavor));
    router.post(paths.requests, authFirst('submitter'), raw, create(flavor));
    router.get(`${paths.requests}/:id`, status(flavor));
    router.delete(`${paths.requests}/:id`, cancel(flavor));
    router.put(`${paths.requests}/:id`, notSupported(flavor));
  }
  router.get(CERTIFICATE_PATH, (_req, res) => {
    send(res, 'v2', 200, signer.certificatePem, 'application/x-pem-file');
  });
  router.use('/v2', (_req: Request, _res: Response, next: NextFunction) => {
    next(new OpenDsrHttpError(404, 'no such route', [], 'NotFound'));
  });

  router.use(openDsrErrors(deps, responding));
  return router;
}
