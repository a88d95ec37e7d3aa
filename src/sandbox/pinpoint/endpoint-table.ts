import type { PinpointEndpoint } from './pinpoint-store.js';

/**
 * An app's endpoints, keyed by lower-cased id, indexed by user id: GetUserEndpoints,
 * DeleteUserEndpoints and the 15-per-user rule ask for one user's endpoints on every call, and a
 * scan of the whole app made the simulator, not the service, the cost of a 10,000-person run.
 * Endpoint objects are replaced, never changed in place, so `set` and `delete` keep the index
 * true. `ofUser` answers in the map's own order.
 */
export class EndpointTable extends Map<string, PinpointEndpoint> {
  private readonly byUser = new Map<string, Set<string>>();
  /** Insertion rank of each key (a Map keeps a key's place when its value is replaced). */
  private readonly rank = new Map<string, number>();
  private nextRank = 0;

  override set(key: string, endpoint: PinpointEndpoint): this {
    const before = super.get(key);
    if (before) this.unindex(key, before);
    else this.rank.set(key, this.nextRank++);
    super.set(key, endpoint);
    const userId = endpoint.User.UserId;
    if (userId !== undefined) {
      let keys = this.byUser.get(userId);
      if (!keys) this.byUser.set(userId, (keys = new Set()));
      keys.add(key);
    }
    return this;
  }

  override delete(key: string): boolean {
    const before = super.get(key);
    if (!before) return false;
    this.unindex(key, before);
    this.rank.delete(key);
    return super.delete(key);
  }

  override clear(): void {
    this.byUser.clear();
    this.rank.clear();
    super.clear();
  }

  /** The user's endpoints, in the order the map lists them. */
  ofUser(userId: string): PinpointEndpoint[] {
    const keys = this.byUser.get(userId);
    if (!keys) return [];
    const rankOf = (key: string) => this.rank.get(key) ?? 0;
    return [...keys].sort((a, b) => rankOf(a) - rankOf(b)).flatMap((key) => super.get(key) ?? []);
  }

  private unindex(key: string, endpoint: PinpointEndpoint): void {
    const userId = endpoint.User.UserId;
    if (userId === undefined) return;
    const keys = this.byUser.get(userId);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(userId);
  }
}
