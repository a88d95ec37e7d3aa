import { ApiClient, ApiConnectionError, ApiResponseError } from './api-client.js';
import { namedUrl, resolveClientConfig } from './client-config.js';
import {
  COMMON_HELP,
  EXIT,
  parseCommandLine,
  UsageError,
  type Command,
  type CommandContext,
  type Output,
} from './command.js';
import { CLIENT_COMMANDS } from './commands/index.js';
import { printable, printableJson } from '../privacy/printable-text.js';

export function findClientCommand(name: string | undefined): Command | undefined {
  return CLIENT_COMMANDS.find((c) => c.name === name);
}

/** The client commands' part of `erasure --help`. */
export function clientCommandsHelp(): string {
  const width = Math.max(...CLIENT_COMMANDS.map((c) => c.name.length));
  return CLIENT_COMMANDS.map((c) => `  ${c.name.padEnd(width + 2)}${c.summary}`).join('\n');
}

/** Everything printed goes through printable / printableJson (src/privacy/printable-text.ts): no escape byte from a server reaches the terminal. */
function output(): Output {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    out: (text) => process.stdout.write(printable(text.endsWith('\n') ? text : `${text}\n`)),
    err: (text) => process.stderr.write(printable(text.endsWith('\n') ? text : `${text}\n`)),
    json: (value) => process.stdout.write(`${printableJson(value, 2)}\n`),
  };
}

/**
 * Runs one client command (`erasure <command> …`) and returns its exit code. Errors become an
 * exit code and one message on stderr (a JSON error document on stdout with --json).
 */
export async function runClientCommand(command: Command, argv: string[]): Promise<number> {
  const io = output();
  let json = argv.includes('--json');
  try {
    const { values, positionals } = parseCommandLine(argv, command.options);
    json = values.json === true;
    if (values.help) {
      io.out(`${command.help.trimEnd()}\n\n${COMMON_HELP}\n`);
      return EXIT.ok;
    }
    let client: ApiClient | undefined;
    const ctx: CommandContext = {
      values: values as CommandContext['values'],
      positionals,
      json,
      io,
      namedUrl: namedUrl({ url: values.url as string | undefined }),
      client: () =>
        (client ??= new ApiClient(
          resolveClientConfig({ url: values.url as string | undefined, token: values.token as string | undefined }),
        )),
    };
    return await command.run(ctx);
  } catch (err) {
    return reportError(io, command, err, json);
  }
}

function reportError(io: Output, command: Command, err: unknown, json: boolean): number {
  const e = err instanceof Error ? err : new Error(String(err));
  let code: number = EXIT.failed;
  let doc: Record<string, unknown>;
  if (e instanceof UsageError) {
    code = EXIT.usage;
    doc = { code: 'usage', message: e.message };
    if (!json) {
      io.err(`erasure ${command.name}: ${e.message}\nRun "erasure ${command.name} --help" for usage.`);
      return code;
    }
  } else if (e instanceof ApiResponseError) {
    code = e.serverSide ? EXIT.server : EXIT.failed;
    doc = { status: e.status, code: e.code, message: e.message, ...(e.details.length ? { details: e.details } : {}) };
    if (!json) {
      const lines = [
        `erasure ${command.name}: ${e.message} (HTTP ${e.status} ${e.code})`,
        ...e.details.map((d) => `  ${d.field} ${d.problem}`),
      ];
      io.err(lines.join('\n'));
      return code;
    }
  } else if (e instanceof ApiConnectionError) {
    code = EXIT.server;
    doc = { code: 'connection', message: e.message };
    if (!json) {
      io.err(`erasure ${command.name}: ${e.message}`);
      return code;
    }
  } else {
    doc = { code: 'internal', message: `${e.name}: ${e.message}` };
    if (!json) {
      io.err(`erasure ${command.name} failed: ${e.name}: ${e.message}`);
      return code;
    }
  }
  io.json({ error: doc });
  return code;
}
