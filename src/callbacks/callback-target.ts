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
  constructor(message = 'the callback host resolves to a private, loopback or link-local address; callbacks go only to public addresses') {
    super(message);
    this.name = 'CallbackRefusedError';
  }
}

/**
 * Addresses a callback must not reach unless the config allows it: "this" network, private
 * (RFC 1918), shared (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254), benchmark,
 * multicast and reserved ranges; in IPv6 the unspecified and loopback addresses, unique-local
 * (fc00::/7), link-local (fe80::/10), multicast, and IPv4 embedded in IPv6 (mapped, compatible,
 * NAT64), which could smuggle any of the IPv4 ranges past the check.
 */
const REFUSED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96],
  // IPv4-mapped addresses (::ffff:0:0/96) need no rule: BlockList checks them against the IPv4 rules.
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv6');
}

/** True for an address in one of the refused ranges (or not an IP address at all). */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return REFUSED.check(address, family === 4 ? 'ipv4' : 'ipv6');
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

async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
  return addresses.map((a) => a.address);
}

/**
 * Checks a callback URL at submission: undefined when it may be used, else the problem, worded
 * without the URL (it might carry anything). The host is resolved; every address must be public.
 * Delivery checks again (DNS may change): see `guardedLookup`.
 */
export async function checkCallbackUrl(raw: string, policy: CallbackPolicy): Promise<string | undefined> {
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
    addresses = await resolveAll(bareHost(url.hostname));
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
 * A `lookup` for http.request that refuses private addresses at connect time, so the address
 * checked is the address connected to (no window for DNS rebinding between check and use).
 */
export function guardedLookup(exempt: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (!exempt && addresses.some((a) => isRefusedAddress(a.address))) return callback(new CallbackRefusedError(), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
