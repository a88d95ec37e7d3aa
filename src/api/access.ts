import type { Role } from '../config/config-schema.js';
import type { RequestRecord } from '../ledger/ledger-types.js';
import type { Principal } from './auth.js';

/**
 * Who may see which requests (README "Clients, roles and idempotency"). Roles are of two kinds:
 * - `submitter` is a client: it sees and acts on its own requests only (those whose `client` is its
 *   token's name); another client's request is answered exactly like an unknown id (404).
 * - `viewer < operator < admin` are staff: they see every request.
 * What a role may do at all (submit, cancel, retry…) is still the ladder of src/api/auth.ts.
 */
export const STAFF_ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export function isStaff(principal: Principal | undefined): boolean {
  return !!principal && STAFF_ROLES.includes(principal.role);
}

/** The client whose requests alone this principal may see, or undefined for staff (all of them). */
export function clientScope(principal: Principal | undefined): string | undefined {
  if (isStaff(principal)) return undefined;
  // No principal sees nothing: a name no request carries.
  return principal?.name ?? '\u0000';
}

/** Whether the principal may see (and, with the role for it, act on) this request. */
export function canSee(principal: Principal | undefined, request: Pick<RequestRecord, 'client'>): boolean {
  const scope = clientScope(principal);
  return scope === undefined || request.client === scope;
}
