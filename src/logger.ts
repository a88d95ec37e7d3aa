import winston from 'winston';
import type { Config } from './config/config-schema.js';

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

const scrubFormat = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (typeof value === 'string') (info as Record<string, unknown>)[key] = scrub(value);
  }
  return info;
});

/**
 * JSON lines on stdout (and `logFile` when set). Callers add `requestId` and `jobId` with
 * `logger.child({...})`; identifiers of people are never passed in.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFile'>, options: { silentConsole?: boolean } = {}): Logger {
  const transports: winston.transport[] = [new winston.transports.Console({ silent: options.silentConsole ?? false })];
  if (config.logFile) transports.push(new winston.transports.File({ filename: config.logFile }));
  return winston.createLogger({
    level: config.logLevel,
    format: winston.format.combine(scrubFormat(), winston.format.timestamp(), winston.format.json()),
    defaultMeta: { service: 'erasure' },
    transports,
  });
}
