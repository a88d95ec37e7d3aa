import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { verifyReceipt, type SignedReceipt } from '../../receipts/receipt.js';
import { publicKeyId } from '../../receipts/receipt-signer.js';
import { EXIT, stringFlag, table, UsageError, type Command, type CommandContext } from '../command.js';
import type { ReceiptAnswer } from '../api-answers.js';

export const receiptCommand: Command = {
  name: 'receipt',
  summary: "a request's signed receipt (table or --json), or --verify FILE offline",
  help: `usage: erasure receipt REQUEST_ID [--json]
       erasure receipt --verify FILE [--key PUBLIC_KEY.pem | --url URL] [--json]

REQUEST_ID: fetches the signed receipt: per vendor and resource, the action, the state, the counts,
the verification and the connector version, with the request's hash-chained audit trail. It names
the person only by keyed hash. --json prints the receipt as the service signed it (save it with
"erasure receipt ID --json > receipt.json").

--verify FILE: checks a saved receipt: the Ed25519 signature over the receipt, every link and hash
of the audit chain, and that no entry was removed from the end. The signature is checked against a
key you trust, never against the key the receipt carries (anyone can re-sign an edited receipt
with a key of their own): --key PEM (offline), or else the keys the service at --url (or
$ERASURE_URL) publishes at /v1/receipt-key, current and retired (with --token as usual). The
output names the key used. Exit code 0 when valid, 1 when not (the problems are listed), 2 with
"no trusted key" when there is neither --key nor --url.`,
  options: { verify: { type: 'string' }, key: { type: 'string' } },
  async run(ctx) {
    const file = stringFlag(ctx, 'verify');
    if (file !== undefined) return verify(ctx, file);
    if (stringFlag(ctx, 'key') !== undefined) throw new UsageError('--key only goes with --verify FILE');
    if (ctx.positionals.length !== 1)
      throw new UsageError(
        ctx.positionals.length
          ? `unexpected argument "${ctx.positionals[1]}"`
          : 'receipt needs a REQUEST_ID (or --verify FILE)',
      );
    const signed = await ctx
      .client()
      .get<ReceiptAnswer>(`/v1/requests/${encodeURIComponent(ctx.positionals[0])}/receipt`);
    if (ctx.json) ctx.io.json(signed);
    else ctx.io.out(formatReceipt(signed));
    return EXIT.ok;
  },
};

function readOrUsage(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file} (${errorCode(err)})`);
  }
}

/** The keys a verification trusts, and where they came from (printed, so the reader knows what was checked). */
interface TrustedKeys {
  keys: string[];
  source: string;
}

async function trustedKeys(ctx: CommandContext): Promise<TrustedKeys> {
  const keyFile = stringFlag(ctx, 'key');
  if (keyFile !== undefined) {
    const key = readOrUsage(keyFile, 'the key file');
    try {
      createPublicKey(key);
    } catch {
      throw new UsageError(`--key ${keyFile} is not a public key in PEM form`);
    }
    return { keys: [key], source: `--key ${keyFile}` };
  }
  // Only a URL the user named: never a default address, and never the key inside the receipt.
  if (!ctx.namedUrl)
    throw new UsageError(
      'no trusted key: pass --key PUBLIC_KEY.pem, or --url of the service whose published key to use',
    );
  const client = ctx.client();
  // Read as unknown: the keys a verification trusts are checked one by one, never taken on the answer's word.
  const published = await client.get('/v1/receipt-key');
  const keys: string[] = [];
  for (const publicKey of publishedKeys(published)) {
    try {
      createPublicKey(publicKey);
      keys.push(publicKey);
    } catch {
      // not a key: ignored, so it cannot be trusted by accident
    }
  }
  if (!keys.length) throw new UsageError(`no trusted key: ${client.baseUrl}/v1/receipt-key published no public key`);
  return { keys, source: `${client.baseUrl}/v1/receipt-key` };
}

async function verify(ctx: CommandContext, file: string): Promise<number> {
  if (ctx.positionals.length)
    throw new UsageError(`--verify takes a file, not a request id; unexpected argument "${ctx.positionals[0]}"`);
  const text = readOrUsage(file, 'the receipt');
  const trusted = await trustedKeys(ctx);
  let parsed: unknown;
  let result: { valid: boolean; problems: string[] };
  try {
    parsed = JSON.parse(text);
    result = checkReceipt(parsed, trusted.keys);
  } catch {
    result = { valid: false, problems: ['the file is not JSON'] };
  }
  const { requestId, keyId, chainEntries } = receiptFacts(parsed);
  const usedKey = keyId && trusted.keys.some((k) => publicKeyId(k) === keyId) ? keyId : null;
  if (ctx.json) {
    ctx.io.json({
      valid: result.valid,
      problems: result.problems,
      requestId,
      keyId,
      chainEntries,
      keyChecked: true,
      trustedKeyId: usedKey,
      trustedKeySource: trusted.source,
    });
  } else if (result.valid) {
    ctx.io.out(
      `valid: receipt for request ${requestId ?? '?'}, signed by key ${keyId ?? '?'} (the trusted key, from ${trusted.source}), ${chainEntries ?? 0} audit chain entries intact`,
    );
  } else {
    ctx.io.out(
      `INVALID receipt ${file} (checked against ${trusted.source}):\n${result.problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return result.valid ? EXIT.ok : EXIT.failed;
}

/** Verifies a parsed file against the trusted keys; a document that is not a receipt is invalid, never a crash. */
function checkReceipt(parsed: unknown, keys: string[]): { valid: boolean; problems: string[] } {
  try {
    // verifyReceipt reads every part it checks and throws on any it cannot read (caught below).
    return verifyReceipt(parsed as SignedReceipt, keys);
  } catch {
    return {
      valid: false,
      problems: ['the receipt is malformed: its public key, signature or audit chain cannot be read'],
    };
  }
}

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** What the output names of a receipt file, each only when present with its type. */
function receiptFacts(parsed: unknown): {
  requestId: string | null;
  keyId: string | null;
  chainEntries: number | null;
} {
  const doc = isObject(parsed) ? parsed : {};
  const receipt = isObject(doc.receipt) ? doc.receipt : {};
  const signature = isObject(doc.signature) ? doc.signature : {};
  return {
    requestId: typeof receipt.requestId === 'string' ? receipt.requestId : null,
    keyId: typeof signature.keyId === 'string' ? signature.keyId : null,
    chainEntries: Array.isArray(receipt.auditChain) ? receipt.auditChain.length : null,
  };
}

/** Numbers in a task's evidence (endpointsDeleted: 2, …), as `name=value`. */
function counts(evidence: Record<string, unknown> | undefined): string {
  return Object.entries(evidence ?? {})
    .flatMap(([k, v]) => (typeof v === 'number' ? [`${k}=${v}`] : []))
    .join(' ');
}

export function formatReceipt(signed: ReceiptAnswer): string {
  const r = signed.receipt;
  const lines = [
    `receipt for request ${r.requestId}  (${r.regulation}, ${r.status})`,
    `subject     ${r.subjectHash.slice(0, 12)}… (keyed hash)`,
    `submitted   ${r.submittedAt}   due ${r.dueAt}   finished ${r.finishedAt ?? '-'}`,
    `service     ${r.service?.name} ${r.service?.version}`,
    `signature   ${signed.signature?.alg} key ${signed.signature?.keyId}`,
    `audit chain ${r.auditChain?.length ?? 0} entries, head ${r.chainHead ?? '-'}`,
    '',
    table(
      ['VENDOR', 'RESOURCE', 'ACTION', 'STATE', 'COUNTS', 'VERIFICATION', 'FINISHED', 'CONNECTOR'],
      (r.tasks ?? []).map((t) => [
        t.vendor,
        t.resource,
        t.action,
        t.state,
        counts(t.evidence),
        t.verification,
        t.finishedAt,
        t.connectorVersion,
      ]),
    ),
  ];
  return lines.join('\n');
}

/** The public keys of a `/v1/receipt-key` answer: the current one and the retired ones (`previous`), strings only. */
function publishedKeys(published: unknown): string[] {
  if (typeof published !== 'object' || published === null) return [];
  const { publicKey, previous } = published as { publicKey?: unknown; previous?: unknown };
  const entries: unknown[] = [{ publicKey }, ...(Array.isArray(previous) ? (previous as unknown[]) : [])];
  return entries.flatMap((e) => {
    const key = typeof e === 'object' && e !== null ? (e as { publicKey?: unknown }).publicKey : undefined;
    return typeof key === 'string' ? [key] : [];
  });
}

/** The errno code of a failed file read (ENOENT, EACCES, …). */
function errorCode(err: unknown): string {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return code ?? 'error';
}
