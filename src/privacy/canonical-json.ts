import { jsonText } from './printable-text.js';
/**
 * JSON with object keys sorted at every level and no white space: the same value always gives
 * the same bytes, so hashes and signatures over it can be checked anywhere, offline.
 *
 * Written as a loop over an explicit stack, not as recursion: a value nested ten thousand levels
 * deep (a hostile `extensions`, issue 25 item 1) gives its bytes instead of a RangeError. Cycles
 * are refused, since they would never end.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  // Each frame is either a value still to write or a piece of punctuation to emit.
  const stack: Array<{ value: unknown } | { text: string } | { leave: object }> = [{ value }];
  const open = new Set<object>();
  while (stack.length > 0) {
    const frame = stack.pop();
    if (!frame) break;
    if ('text' in frame) {
      out.push(frame.text);
      continue;
    }
    if ('leave' in frame) {
      open.delete(frame.leave);
      continue;
    }
    const v = frame.value;
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError('canonical JSON has no NaN or Infinity');
      out.push(jsonText(v) ?? 'null');
      continue;
    }
    if (v instanceof Date) {
      out.push(JSON.stringify(v.toISOString()));
      continue;
    }
    if (open.has(v)) throw new TypeError('canonical JSON has no cycles');
    open.add(v);
    // Pushed in reverse, so they pop in order: opening bracket, members, closing bracket.
    const pieces: Array<{ value: unknown } | { text: string } | { leave: object }> = [];
    if (Array.isArray(v)) {
      pieces.push({ text: '[' });
      v.forEach((item, i) => {
        if (i > 0) pieces.push({ text: ',' });
        pieces.push({ value: item === undefined ? null : item });
      });
      pieces.push({ text: ']' });
    } else {
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, member]) => member !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      pieces.push({ text: '{' });
      entries.forEach(([k, member], i) => {
        pieces.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(k)}:` }, { value: member });
      });
      pieces.push({ text: '}' });
    }
    pieces.push({ leave: v });
    for (let i = pieces.length - 1; i >= 0; i--) stack.push(pieces[i]);
  }
  return out.join('');
}
