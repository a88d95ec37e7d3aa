import { createHash } from 'node:crypto';

/**
 * The sandbox's seeded people (README "The sandbox"): person i has these identifiers in every
 * vendor, beside other people's data. Deterministic, so tests and demos can name them.
 */
export interface SeedPerson {
  index: number;
  email: string;
  phone: string;
  userId: string;
  /** App Center install id: a UUID derived from the index. */
  installId: string;
  /** Amplitude's numeric id for the person. */
  amplitudeId: number;
}

export function seedPerson(index: number): SeedPerson {
  if (!Number.isInteger(index) || index < 0 || index > 9_999_999)
    throw new RangeError('seed index must be an integer in 0..9999999');
  const hex = index.toString(16).padStart(12, '0');
  return {
    index,
    email: `user${index}@example.com`,
    phone: `+1555${String(index).padStart(7, '0')}`,
    userId: `user-${index}`,
    installId: `00000000-0000-4000-8000-${hex}`,
    amplitudeId: 100_000_000 + index,
  };
}

/** Deterministic opaque ids (vendor object ids), so a seed is the same on every run. */
export function seededId(namespace: string, ...parts: Array<string | number>): string {
  return createHash('sha256')
    .update([namespace, ...parts].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}
