/**
 * The one function every printed string goes through (README "Errors, retries and rate limits"; issue 25, item 3):
 * the CLI's output (src/cli/run-client.ts), the JSON logs (src/logger.ts) and the admin page
 * (src/dashboard/html.ts). A vendor answer, a reason or a note can carry terminal escapes
 * (`ESC]0;title BEL` sets an on-call engineer's window title, `ESC[2J` clears the screen) or bidi
 * controls that make text read in another order than it is stored (Trojan Source).
 *
 * - C0 controls (but new line and tab), DEL and C1 controls are removed;
 * - bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) are replaced by a visible
 *   `<U+202E>`, so that a reader sees that something was there.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const visible = (c: string) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`;

export function printable(text: string): string {
  return text.replace(CONTROL, '').replace(BIDI, visible);
}

/**
 * JSON for a terminal: the same value as JSON.stringify, with C1 controls and bidi controls
 * written as `\uXXXX` escapes (JSON.stringify escapes only C0), so no raw control byte reaches the
 * screen and the document still parses to exactly what the service sent.
 */
/** JSON.stringify as it behaves: undefined (and a function or symbol) has no JSON text, whatever the lib's typing says. */
export function jsonText(value: unknown, space?: number): string | undefined {
  return JSON.stringify(value, null, space);
}

export function printableJson(value: unknown, space?: number): string {
  const text = jsonText(value, space);
  return (text ?? 'null').replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
