import winston from 'winston';
import type { Config } from './config/config-schema.js';
import { printable } from './privacy/printable-text.js';

export type Logger = winston.Logger;

// Defence in depth for Invariant 1: nothing we log should carry a person's identifier, and
// these patterns catch the shapes that would (e-mail addresses, E.164 phone numbers) if
// a vendor message or a mistake ever slipped one in.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const PHONE = /\+\d{8,15}\b/g;

/** Replaces e-mail- and phone-shaped text in a string. */
export function scrub(text: string): string {
  return text.replace(EMAIL, '[redacted-email]').replace(PHONE, '[redacted-phone]');
}

/** Every string in a log entry, nested ones too, scrubbed and made printable (src/privacy/printable-text.ts). */
function cleanValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return printable(scrub(value));
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  // A copy: the caller's objects and arrays are not changed under it. Only plain ones: an Error or a Date is left as it is.
  if (Array.isArray(value)) return value.map((item) => cleanValue(item, depth - 1));
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, cleanValue(v, depth - 1)]),
  );
}

const scrubFormat = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    (info as Record<string, unknown>)[key] = cleanValue(value, 4);
  }
  return info;
});

/**
 * JSON lines on stdout (and `logFile` when set). Callers add `requestId` and `jobId` with
 * `logger.child({...})`; identifiers of people are never passed in.
 */
export function createLogger(
  config: Pick<Config, 'logLevel' | 'logFile'>,
  options: { silentConsole?: boolean } = {},
): Logger {
  // winston's typings declare its Console and File transports against winston-transport's class by a
  // path the rule cannot follow; they are TransportStream instances (they extend it).
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- see the line above
  const transports: winston.transport[] = [new winston.transports.Console({ silent: options.silentConsole ?? false })];
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- as above
  if (config.logFile) transports.push(new winston.transports.File({ filename: config.logFile }));
  return winston.createLogger({
    level: config.logLevel,
    format: winston.format.combine(scrubFormat(), winston.format.timestamp(), winston.format.json()),
    defaultMeta: { service: 'erasure' },
    transports,
  });
}
