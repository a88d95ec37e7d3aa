import type { RequestRecord, TaskRecord } from '../ledger/ledger-types.js';
import { canonicalJson } from '../privacy/canonical-json.js';
import { verifyChain, type ChainEntry } from './audit-chain.js';
import { publicKeyId, verifySignature, type ReceiptSigner } from './receipt-signer.js';
import { receiptVerification, type Verification } from './verification.js';

/** 2: `verification` is one of the closed set in ./verification.ts, with `verificationReason` (issue 17). */
export const RECEIPT_VERSION = 2;

/**
 * What the requester gets: per vendor and resource, what was done, counted and checked, with the
 * request's audit chain. It names the person only by keyed hash (Invariant 1).
 */
export interface ReceiptBody {
  version: number;
  requestId: string;
  /** The client that submitted the request (its token's name). */
  client: string;
  subjectHash: string;
  regulation: string;
  status: string;
  submittedAt: string;
  dueAt: string;
  finishedAt: string | null;
  service: { name: string; version: string };
  tasks: Array<{
    vendor: string;
    resource: string;
    action: string;
    state: string;
    connectorVersion: string;
    startedAt: string | null;
    finishedAt: string | null;
    /** One of the closed set in ./verification.ts (README "Verification values"); null when the task has none. */
    verification: Verification | null;
    /** Why, when `verification` is `unverifiable`; otherwise null. */
    verificationReason: string | null;
    /** Present when on-call closed the task (skip, resolve): a decision, never a verified outcome. */
    operatorDecision?: { decision: string; by: string; at: string; reason: string };
    evidence: Record<string, unknown>;
  }>;
  auditChain: ChainEntry[];
  chainHead: string | null;
}

export interface SignedReceipt {
  receipt: ReceiptBody;
  signature: { alg: 'Ed25519'; keyId: string; value: string };
  publicKey: string;
}

export function buildReceipt(
  request: RequestRecord,
  tasks: TaskRecord[],
  chain: ChainEntry[],
  service: { name: string; version: string },
): ReceiptBody {
  return {
    version: RECEIPT_VERSION,
    requestId: request.id,
    client: request.client,
    subjectHash: request.subjectHash,
    regulation: request.regulation,
    status: request.status,
    submittedAt: request.submittedAt.toISOString(),
    dueAt: request.dueAt.toISOString(),
    finishedAt: request.finishedAt?.toISOString() ?? null,
    service,
    tasks: tasks.map((t) => ({
      vendor: t.vendor,
      resource: t.resource,
      action: t.action,
      state: t.state,
      connectorVersion: `${t.vendor}@${service.version}`,
      startedAt: t.startedAt?.toISOString() ?? null,
      finishedAt: t.finishedAt?.toISOString() ?? null,
      ...receiptVerification(t.evidence),
      ...operatorDecisionOf(t),
      evidence: t.evidence,
    })),
    auditChain: chain,
    chainHead: chain.at(-1)?.hash ?? null,
  };
}

/** The operator's decision recorded on a task (src/ledger/tasks-ledger.ts decideFailedTask), if any. */
function operatorDecisionOf(t: TaskRecord): {
  operatorDecision?: { decision: string; by: string; at: string; reason: string };
} {
  const d = t.evidence.operatorDecision as Record<string, unknown> | undefined;
  if (!d || typeof d !== 'object') return {};
  return {
    operatorDecision: { decision: String(d.decision), by: String(d.by), at: String(d.at), reason: String(d.reason) },
  };
}

export function signReceipt(body: ReceiptBody, signer: ReceiptSigner): SignedReceipt {
  return {
    receipt: body,
    signature: { alg: 'Ed25519', keyId: signer.keyId, value: signer.sign(canonicalJson(body)) },
    publicKey: signer.publicKeyPem,
  };
}

/**
 * Offline check of a receipt: the signature over the body, the audit chain's links and hashes,
 * and that the chain head is the last entry. With `trusted` keys (the service's published current
 * and previous keys), the signature is checked with the trusted key of the receipt's key id, never
 * with the key the receipt carries: anyone can re-sign an edited receipt with a key of their own.
 * Without them only the receipt's self-consistency is checked (the CLI never does that).
 */
export function verifyReceipt(
  signed: SignedReceipt,
  trusted?: string | string[],
): { valid: boolean; problems: string[] } {
  const problems: string[] = [];
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a receipt read from a file may lack what its type promises; this is where that is checked
  if (!signed?.receipt || !signed.signature || !signed.publicKey)
    return { valid: false, problems: ['not a signed receipt: receipt, signature and publicKey are required'] };
  const trustedKeys = trusted === undefined ? undefined : Array.isArray(trusted) ? trusted : [trusted];
  let key = signed.publicKey;
  if (trustedKeys) {
    const match = trustedKeys.find((k) => publicKeyId(k) === signed.signature.keyId);
    if (!match) problems.push('signed by a key other than the trusted one');
    else key = match;
  } else if (publicKeyId(signed.publicKey) !== signed.signature.keyId)
    problems.push('the signature key id does not match the public key');
  if (!verifySignature(key, canonicalJson(signed.receipt), signed.signature.value))
    problems.push('the signature does not match the receipt: it was changed after signing');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a receipt read from a file may lack what its type promises; this is where that is checked
  const chain = signed.receipt.auditChain ?? [];
  problems.push(...verifyChain(chain));
  if ((chain.at(-1)?.hash ?? null) !== signed.receipt.chainHead)
    problems.push('the chain head is not the last entry: entries were removed from the end');
  return { valid: problems.length === 0, problems };
}
