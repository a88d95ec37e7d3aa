import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { verifyReceipt, type SignedReceipt } from '../../receipts/receipt.js';
import { publicKeyId } from '../../receipts/receipt-signer.js';
import { EXIT, stringFlag, table, UsageError, type Command, type CommandContext } from '../command.js';

export const receiptCommand: Command = {
  name: 'receipt',
  summary: 'a request\'s signed receipt (table or --json), or --verify FILE offline',
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
    if (ctx.positionals.length !== 1) throw new UsageError(ctx.positionals.length ? `unexpected argument "${ctx.positionals[1]}"` : 'receipt needs a REQUEST_ID (or --verify FILE)');
    const signed = await ctx.client().get(`/v1/requests/${encodeURIComponent(ctx.positionals[0])}/receipt`);
    if (ctx.json) ctx.io.json(signed);
    else ctx.io.out(formatReceipt(signed));
    return EXIT.ok;
  },
};

function readOrUsage(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
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
  if (!ctx.namedUrl) throw new UsageError('no trusted key: pass --key PUBLIC_KEY.pem, or --url of the service whose published key to use');
  const client = ctx.client();
  const published = (await client.get('/v1/receipt-key')) as { keyId?: unknown; publicKey?: unknown; previous?: unknown };
  const keys: string[] = [];
  for (const entry of [published, ...(Array.isArray(published?.previous) ? published.previous : [])] as Array<{ publicKey?: unknown }>) {
    if (typeof entry?.publicKey !== 'string') continue;
    try {
      createPublicKey(entry.publicKey);
      keys.push(entry.publicKey);
    } catch {
      // not a key: ignored, so it cannot be trusted by accident
    }
  }
  if (!keys.length) throw new UsageError(`no trusted key: ${client.baseUrl}/v1/receipt-key published no public key`);
  return { keys, source: `${client.baseUrl}/v1/receipt-key` };
}

async function verify(ctx: CommandContext, file: string): Promise<number> {
  if (ctx.positionals.length) throw new UsageError(`--verify takes a file, not a request id; unexpected argument "${ctx.positionals[0]}"`);
  const text = readOrUsage(file, 'the receipt');
  const trusted = await trustedKeys(ctx);
  let result: { valid: boolean; problems: string[] };
  let signed: SignedReceipt | undefined;
  try {
    signed = JSON.parse(text) as SignedReceipt;
  } catch {
    result = { valid: false, problems: ['the file is not JSON'] };
  }
  if (signed) {
    try {
      result = verifyReceipt(signed, trusted.keys);
    } catch {
      result = { valid: false, problems: ['the receipt is malformed: its public key, signature or audit chain cannot be read'] };
    }
  }
  const keyId = typeof signed?.signature?.keyId === 'string' ? signed.signature.keyId : null;
  const usedKey = keyId && trusted.keys.some((k) => publicKeyId(k) === keyId) ? keyId : null;
  if (ctx.json) {
    ctx.io.json({ valid: result!.valid, problems: result!.problems, requestId: signed?.receipt?.requestId ?? null, keyId, chainEntries: Array.isArray(signed?.receipt?.auditChain) ? signed.receipt.auditChain.length : null, keyChecked: true, trustedKeyId: usedKey, trustedKeySource: trusted.source });
  } else if (result!.valid) {
    ctx.io.out(`valid: receipt for request ${signed!.receipt.requestId}, signed by key ${keyId} (the trusted key, from ${trusted.source}), ${signed!.receipt.auditChain.length} audit chain entries intact`);
  } else {
    ctx.io.out(`INVALID receipt ${file} (checked against ${trusted.source}):\n${result!.problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return result!.valid ? EXIT.ok : EXIT.failed;
}

/** Numbers in a task's evidence (endpointsDeleted: 2, …), as `name=value`. */
function counts(evidence: Record<string, unknown> | undefined): string {
  return Object.entries(evidence ?? {})
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function formatReceipt(signed: any): string {
  const r = signed.receipt;
  const lines = [
    `receipt for request ${r.requestId}  (${r.regulation}, ${r.status})`,
    `subject     ${String(r.subjectHash).slice(0, 12)}… (keyed hash)`,
    `submitted   ${r.submittedAt}   due ${r.dueAt}   finished ${r.finishedAt ?? '-'}`,
    `service     ${r.service?.name} ${r.service?.version}`,
    `signature   ${signed.signature?.alg} key ${signed.signature?.keyId}`,
    `audit chain ${r.auditChain?.length ?? 0} entries, head ${r.chainHead ?? '-'}`,
    '',
    table(
      ['VENDOR', 'RESOURCE', 'ACTION', 'STATE', 'COUNTS', 'VERIFICATION', 'FINISHED', 'CONNECTOR'],
      (r.tasks ?? []).map((t: any) => [t.vendor, t.resource, t.action, t.state, counts(t.evidence), t.verification, t.finishedAt, t.connectorVersion]),
    ),
  ];
  return lines.join('\n');
}
