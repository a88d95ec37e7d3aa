import type { Queryable } from './database.js';
import type { VendorName } from '../vendors/vendor-name.js';

/** A scope (a Pinpoint app, an App Center app) the vendor once confirmed to exist. */
export interface ScopeSighting {
  vendor: VendorName;
  /** The config key that names it, e.g. `vendors.pinpoint.appIds[0]`. */
  configKey: string;
  /** The vendor's id of the scope (an app id): not personal data. */
  scopeId: string;
  firstSeenAt: string;
  lastSeenAt: string;
}

/**
 * Which configured scopes a vendor has confirmed to exist, and when last (README.md, Verification values):
 * a scope seen before that now answers 404 is gone by the vendor's own answer (`scope_gone`, with
 * `lastSeenAt` as evidence); one never seen is a configuration mistake. Written by the clients'
 * confirmApp (src/vendors/pinpoint-client.ts, src/vendors/appcenter-client.ts) and the preflight.
 */
export interface ScopeSightings {
  seen(input: { vendor: VendorName; configKey: string; scopeId: string }): Promise<void>;
  lastSeen(vendor: VendorName, scopeId: string): Promise<ScopeSighting | undefined>;
}

/** The ledger's record of scope sightings (migration 12, table `scope_sightings`). */
export class ScopeSightingLedger implements ScopeSightings {
  /** When this process last wrote each scope: jobs report sightings on every run, the ledger needs one a minute. */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly db: Queryable,
    private readonly rewriteAfterMs = 60_000,
  ) {}

  async seen({
    vendor,
    configKey,
    scopeId,
  }: {
    vendor: VendorName;
    configKey: string;
    scopeId: string;
  }): Promise<void> {
    const at = Date.now();
    const id = `${vendor}\u0000${scopeId}`;
    if (at - (this.written.get(id) ?? -Infinity) < this.rewriteAfterMs) return;
    this.written.set(id, at);
    await this.db.query(
      `INSERT INTO scope_sightings (vendor, scope_id, config_key, first_seen_at, last_seen_at) VALUES ($1, $2, $3, now(), now())
       ON CONFLICT (vendor, scope_id) DO UPDATE SET config_key = EXCLUDED.config_key, last_seen_at = EXCLUDED.last_seen_at`,
      [vendor, scopeId, configKey],
    );
  }

  async lastSeen(vendor: VendorName, scopeId: string): Promise<ScopeSighting | undefined> {
    const { rows } = await this.db.query<{
      config_key: string;
      first_seen_at: Date | string;
      last_seen_at: Date | string;
    }>(`SELECT config_key, first_seen_at, last_seen_at FROM scope_sightings WHERE vendor = $1 AND scope_id = $2`, [
      vendor,
      scopeId,
    ]);
    const row = rows.at(0);
    if (!row) return undefined;
    const iso = (v: Date | string) => new Date(v).toISOString();
    return {
      vendor,
      configKey: row.config_key,
      scopeId,
      firstSeenAt: iso(row.first_seen_at),
      lastSeenAt: iso(row.last_seen_at),
    };
  }
}
