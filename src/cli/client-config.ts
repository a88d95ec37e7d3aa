import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './command.js';

/**
 * Where the CLI's client commands find the service, and with which token. The one place the CLI
 * reads its own environment (ERASURE_URL, ERASURE_TOKEN, ERASURE_DATA_DIR); flags win over both.
 */
export interface ClientConfig {
  url: string;
  token: string;
  /** Where the token came from, for error messages (never the token itself). */
  tokenSource: 'flag' | 'env' | 'file';
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** The service URL the user named (--url, else ERASURE_URL), without the default: what a verifier may trust. */
export function namedUrl(flags: { url?: string }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flags.url ?? (env.ERASURE_URL || undefined);
}

export function resolveClientConfig(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ClientConfig {
  const url = (flags.url ?? env.ERASURE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('scheme');
  } catch {
    throw new UsageError('--url (or ERASURE_URL) must be an http(s) URL, like http://127.0.0.1:3000');
  }
  if (flags.token !== undefined) {
    if (!flags.token.trim()) throw new UsageError('--token is empty');
    return { url, token: flags.token.trim(), tokenSource: 'flag' };
  }
  if (env.ERASURE_TOKEN?.trim()) return { url, token: env.ERASURE_TOKEN.trim(), tokenSource: 'env' };
  // Same machine, sandbox mode: `erasure start` generated an admin token into the data dir.
  const tokenFile = path.resolve(cwd, env.ERASURE_DATA_DIR || '.data', 'admin-token');
  let token = '';
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch {
    // no file: fall through to the usage error
  }
  if (!token)
    throw new UsageError(
      `no API token: pass --token, set ERASURE_TOKEN, or run next to a sandbox-mode service (${tokenFile})`,
    );
  return { url, token, tokenSource: 'file' };
}
