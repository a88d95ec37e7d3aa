import type { RequestRecord, TaskRecord } from '../ledger/ledger-types.js';
import { canonicalJson } from '../privacy/canonical-json.js';
import { verifyChain, type ChainEntry } from './audit-chain.js';
import { publicKeyId, verifySignature, type ReceiptSigner } from './receipt-signer.js';

export const RECEIPT_VERSION = 1;

/**
 * What the requester gets: per vendor and resource, what was done, counted and checked, with the
 * request's audit chain. It names the person only by keyed hash (Invariant 1).
 */
export interface ReceiptBody {
  version: number;
  requestId: string;
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
    verification: string | null;
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

export function buildReceipt(request: RequestRecord, tasks: TaskRecord[], chain: ChainEntry[], service: { name: string; version: string }): ReceiptBody {
  return {
    version: RECEIPT_VERSION,
    requestId: request.id,
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
      verification: typeof t.evidence.verification === 'string' ? t.evidence.verification : null,
      ...operatorDecisionOf(t),
      evidence: t.evidence,
    })),
    auditChain: chain,
    chainHead: chain.at(-1)?.hash ?? null,
  };
}

/** The operator's decision recorded on a task (src/ledger/request-ledger.ts decideFailedTask), if any. */
function operatorDecisionOf(t: TaskRecord): { operatorDecision?: { decision: string; by: string; at: string; reason: string } } {
  const d = t.evidence.operatorDecision as Record<string, unknown> | undefined;
  if (!d || typeof d !== 'object') return {};
  return { operatorDecision: { decision: String(d.decision), by: String(d.by), at: String(d.at), reason: String(d.reason) } };
}

export function signReceipt(body: ReceiptBody, signer: ReceiptSigner): SignedReceipt {
  return { receipt: body, signature: { alg: 'Ed25519', keyId: signer.keyId, value: signer.sign(canonicalJson(body)) }, publicKey: signer.publicKeyPem };
}

/**
 * Offline check of a receipt: the signature over the body, the audit chain's links and hashes,
 * and that the chain head is the last entry. With `trustedPublicKey`, also that the receipt was
 * signed by that key (otherwise anyone could re-sign an edited receipt with their own key).
 */
export function verifyReceipt(signed: SignedReceipt, trustedPublicKey?: string): { valid: boolean; problems: string[] } {
  const problems: string[] = [];
  if (!signed?.receipt || !signed.signature || !signed.publicKey) return { valid: false, problems: ['not a signed receipt: receipt, signature and publicKey are required'] };
  if (publicKeyId(signed.publicKey) !== signed.signature.keyId) problems.push('the signature key id does not match the public key');
  if (trustedPublicKey && publicKeyId(trustedPublicKey) !== publicKeyId(signed.publicKey)) problems.push('signed by a key other than the trusted one');
  if (!verifySignature(signed.publicKey, canonicalJson(signed.receipt), signed.signature.value)) problems.push('the signature does not match the receipt: it was changed after signing');
  const chain = signed.receipt.auditChain ?? [];
  problems.push(...verifyChain(chain));
  if ((chain.at(-1)?.hash ?? null) !== signed.receipt.chainHead) problems.push('the chain head is not the last entry: entries were removed from the end');
  return { valid: problems.length === 0, problems };
}
