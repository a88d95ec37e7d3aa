/**
 * S3 lists keys in UTF-8 binary order, which is Unicode code point order. JavaScript compares
 * UTF-16 code units, which disagrees for characters above U+FFFF (surrogates, 0xD800–0xDFFF)
 * against U+E000–U+FFFF; shifting those two ranges past each other restores code point order.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** Index of the first key in the sorted list that is not before `key` (or after it, with `strictlyAfter`). */
export function lowerBound(sorted: readonly string[], key: string, strictlyAfter = false): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sorted[mid], key);
    if (c < 0 || (strictlyAfter && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
