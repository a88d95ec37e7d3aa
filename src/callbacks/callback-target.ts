import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Where callbacks may go (config `callbacks`). */
export interface CallbackPolicy {
  /** Deliver to private, loopback and link-local addresses too. */
  allowPrivateNetworks: boolean;
  /** Host names or IP literals exempt from the refusal (compared case-insensitively, without brackets). */
  allowedHosts: readonly string[];
}

/** The callback URL resolves to an address callbacks must never reach (SSRF guard). */
export class CallbackRefusedError extends Error {
  constructor(
    message = 'the callback host resolves to a private, loopback or link-local address; callbacks go only to public addresses',
  ) {
    super(message);
    this.name = 'CallbackRefusedError';
  }
}

/**
 * Addresses an outbound call (native callbacks, OpenDSR status_callback_urls) must not reach unless
 * the config allows it. IPv4: "this" network, private (RFC 1918), shared (CGNAT), loopback,
 * link-local (cloud metadata at 169.254.169.254), IETF protocol assignments, the documentation
 * ranges (TEST-NET-1..3), the 6to4 relay anycast, benchmarking, multicast and reserved. IPv6: the
 * unspecified and loopback addresses and IPv4-compatible ones (::/96), IPv4-mapped
 * (::ffff:0:0/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), discard-only (100::/64), Teredo
 * (2001::/32), benchmarking (2001:2::/48), documentation (2001:db8::/32, 3fff::/20), 6to4
 * (2002::/16), unique-local (fc00::/7), link-local (fe80::/10), the deprecated site-local
 * (fec0::/10) and multicast. The mapped, translated and tunnelled ranges carry an IPv4 address
 * inside, which could smuggle any of the IPv4 ranges past the check (issue 25, item 7).
 */
const REFUSED_RANGES = {
  ipv4: [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.88.99.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ],
  ipv6: [
    ['::', 96],
    ['::ffff:0:0', 96],
    ['64:ff9b::', 96],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    ['2001::', 32],
    ['2001:2::', 48],
    ['2001:db8::', 32],
    ['2002::', 16],
    ['3fff::', 20],
    ['fc00::', 7],
    ['fe80::', 10],
    ['fec0::', 10],
    ['ff00::', 8],
  ],
} as const;

// Two lists: a BlockList also matches an IPv4 address against IPv6 rules through its mapped form,
// so ::ffff:0:0/96 in one shared list would refuse every IPv4 address.
const REFUSED_V4 = new BlockList();
for (const [network, prefix] of REFUSED_RANGES.ipv4) REFUSED_V4.addSubnet(network, prefix, 'ipv4');
const REFUSED_V6 = new BlockList();
for (const [network, prefix] of REFUSED_RANGES.ipv6) REFUSED_V6.addSubnet(network, prefix, 'ipv6');

/** True for an address in one of the refused ranges (or not an IP address at all). */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return family === 4 ? REFUSED_V4.check(address, 'ipv4') : REFUSED_V6.check(address, 'ipv6');
}

function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** Whether the policy lets this URL's host skip the address check. */
export function hostExempt(url: URL, policy: CallbackPolicy): boolean {
  if (policy.allowPrivateNetworks) return true;
  const host = bareHost(url.hostname);
  return policy.allowedHosts.some((allowed) => bareHost(allowed) === host);
}

/** Every address a host name resolves to. Injected in tests (a stub resolver); the system's otherwise. */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

async function resolveAll(host: string, resolve: Resolver): Promise<string[]> {
  if (isIP(host)) return [host];
  const addresses = await resolve(host);
  return addresses.map((a) => a.address);
}

/**
 * Checks a callback URL at submission: undefined when it may be used, else the problem, worded
 * without the URL (it might carry anything). The host is resolved; every address must be public.
 * Delivery checks again (DNS may change): see `guardedLookup`.
 */
export async function checkCallbackUrl(
  raw: string,
  policy: CallbackPolicy,
  resolve: Resolver = systemResolver,
): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an http(s) URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL';
  if (hostExempt(url, policy)) return undefined;
  let addresses: string[];
  try {
    addresses = await resolveAll(bareHost(url.hostname), resolve);
  } catch {
    return 'has a host that does not resolve';
  }
  if (addresses.length === 0) return 'has a host that does not resolve';
  if (addresses.some(isRefusedAddress)) {
    return 'resolves to a private, loopback or link-local address; callbacks go only to public addresses (config callbacks.allowPrivateNetworks or callbacks.allowedHosts to allow it)';
  }
  return undefined;
}

/**
 * A `lookup` for http.request that resolves once, checks every address, and hands the socket the
 * address it checked (pinning): there is no second resolution between check and connect for DNS
 * rebinding to slip into, and one private address among several refuses the whole name.
 */
export function guardedLookup(exempt: boolean, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const host = bareHost(hostname);
    const resolved = isIP(host) ? Promise.resolve([{ address: host, family: isIP(host) }]) : resolve(host);
    resolved.then(
      (found) => {
        const family = (options as { family?: number }).family;
        const addresses = family === 4 || family === 6 ? found.filter((a) => a.family === family) : found;
        if (!exempt && found.some((a) => isRefusedAddress(a.address))) {
          callback(new CallbackRefusedError(), '', 0);
          return;
        }
        if ((options as { all?: boolean }).all) {
          (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, addresses);
          return;
        }
        const first = addresses.at(0);
        if (!first) {
          callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        callback(null, first.address, first.family);
      },
      (err: unknown) => {
        callback(err instanceof Error ? err : new Error('lookup failed'), '', 0);
      },
    );
  };
}
