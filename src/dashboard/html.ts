import { printable } from '../privacy/printable-text.js';

/**
 * A tiny HTML builder that escapes by default: every value put into an `html` template is
 * escaped unless it is itself the result of `html` (or of `trusted`, for fixed markup only).
 * Arrays are rendered item by item under the same rule; null, undefined and false render nothing.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escaped for HTML, and first made printable: no control or bidi character reaches the page (src/privacy/printable-text.ts). */
export function escapeHtml(text: string): string {
  return printable(text).replace(/[&<>"'`]/g, (c) => ENTITIES[c]);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a template may interpolate any value; it shows as String() shows it, escaped
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Marks a constant piece of markup as safe. Never pass it anything that came from a request or the ledger. */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** A path built from fixed segments and encoded values: `path('/admin/requests', id)`. */
export function path(base: string, ...segments: string[]): string {
  return [base, ...segments.map((s) => encodeURIComponent(s))].join('/');
}
