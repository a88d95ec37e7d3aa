import { parseArgs } from 'node:util';
import type { ApiClient } from './api-client.js';

/** Exit codes of the client commands (README, CLI). */
export const EXIT = {
  ok: 0,
  /** The command ran but did not succeed: refused, not found, invalid receipt, rejected rows with --strict. */
  failed: 1,
  /** The command line is wrong: unknown flag or command, missing argument. Nothing was sent. */
  usage: 2,
  /** The service could not be reached or failed (5xx, network, timeout). */
  server: 3,
} as const;

/** A wrong command line; the message names what is wrong, and the command's usage follows. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };
export type Options = Record<string, OptionSpec>;

export interface Output {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  out(text: string): void;
  err(text: string): void;
  json(value: unknown): void;
}

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  io: Output;
  /** The service URL the user named (--url or ERASURE_URL), undefined when only the default applies. */
  namedUrl?: string;
  /** The API client, from --url/--token or the environment; created on first use. */
  client(): ApiClient;
}

export interface Command {
  name: string;
  /** One line for the CLI's own help. */
  summary: string;
  /** The command's own help: synopsis, flags, examples. */
  help: string;
  options: Options;
  run(ctx: CommandContext): Promise<number>;
}

/** Flags every client command takes. */
export const COMMON_OPTIONS: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_HELP = `Common flags:
  --url URL        the service (default: $ERASURE_URL, else http://127.0.0.1:3000)
  --token TOKEN    API token (default: $ERASURE_TOKEN, else $ERASURE_DATA_DIR/admin-token or .data/admin-token)
  --json           machine-readable output: one JSON document on stdout
  -h, --help       this help`;

/**
 * `--flag value` as `--flag=value` for flags that take a value, so a value may start with a dash
 * (API tokens are base64url and can). A next word that is itself one of our flags is left alone:
 * `--token --json` still says "--token needs a value".
 */
function attachValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  const isOurFlag = (arg: string) => arg.startsWith('--') && Object.hasOwn(options, arg.slice(2).split('=')[0]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv.at(i + 1);
    if (
      arg.startsWith('--') &&
      !arg.includes('=') &&
      Object.hasOwn(options, arg.slice(2)) &&
      options[arg.slice(2)].type === 'string' &&
      next?.startsWith('-') &&
      !isOurFlag(next)
    ) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else out.push(arg);
  }
  return out;
}

/** parseArgs with our wording: an unknown or malformed flag is a UsageError naming the flag. */
export function parseCommandLine(argv: string[], options: Options) {
  const all = { ...COMMON_OPTIONS, ...options };
  try {
    return parseArgs({ args: attachValues(argv, all), options: all, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'(-[^' ]*)/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${flag ?? e.message}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/argument missing|ambiguous/.test(e.message)) throw new UsageError(`${flag ?? 'a flag'} needs a value`);
      throw new UsageError(`${flag ?? 'a flag'} does not take a value`);
    }
    throw new UsageError(e.message.split('. ')[0] ?? e.message);
  }
}

export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredString(ctx: CommandContext, name: string, what: string): string {
  const v = stringFlag(ctx, name)?.trim();
  if (!v) throw new UsageError(`--${name} is required: ${what}`);
  return v;
}

export function positiveInt(
  raw: string | undefined,
  flag: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max)
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}`);
  return Number(raw);
}

export function isoTime(raw: string | undefined, flag: string): string | undefined {
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(t))
    throw new UsageError(`${flag} must be an ISO 8601 time, like 2026-05-01 or 2026-05-01T12:00:00Z`);
  return new Date(t).toISOString();
}

export function expectPositionals(ctx: CommandContext, names: string[], command: string): string[] {
  if (ctx.positionals.length < names.length)
    throw new UsageError(`${command} needs ${names.slice(ctx.positionals.length).join(' and ')}`);
  if (ctx.positionals.length > names.length)
    throw new UsageError(`unexpected argument "${ctx.positionals[names.length]}"`);
  return ctx.positionals;
}

/** Columns of text, left-aligned, two spaces apart. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
