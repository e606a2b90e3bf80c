import ipaddr from 'ipaddr.js';

/**
 * Which addresses the media fetcher may connect to (SSRF guard, design §6 FETCH_ALLOW_CIDRS).
 *
 * Default deny: an address is allowed only when it is ordinary public unicast, or inside an operator's
 * allowed range. Everything an attacker could use to reach the host, its LAN or a cloud metadata service
 * (loopback, RFC 1918, CGNAT, link-local incl. 169.254.169.254, unique-local, multicast, reserved and
 * documentation ranges, ...) is refused. IPv6 forms that carry an IPv4 address (mapped, SIIT, NAT64 64:ff9b::/96,
 * 6to4) are judged by that IPv4 address; IPv4-compatible (::a.b.c.d, deprecated) and Teredo are always refused.
 */
export interface AddressPolicy {
  /** True when the fetcher may connect to `ip`. Anything that does not parse as an IP address is refused. */
  isAllowed(ip: string): boolean;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** Ranges ipaddr.js classes as 'unicast' that are still no place to fetch media from. */
const EXTRA_BLOCKED: readonly Cidr[] = [
  ['0.0.0.0', 8], // "this network"
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translates into the operator's own network
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // SRv6 SIDs
].map(([ip, bits]) => [ipaddr.parse(ip as string), bits as number]);

/** All routable IPv6 unicast lives here; anything outside is special-purpose. */
const IPV6_GLOBAL_UNICAST: Cidr = [ipaddr.parse('2000::'), 3];

/**
 * Builds the policy. Throws an `Error` naming the offending entry when an allowed range does not parse
 * (config validation calls this, so a typo in FETCH_ALLOW_CIDRS stops start-up instead of silently allowing nothing).
 * Entries are CIDRs (`127.0.0.0/8`, `::1/128`) or single addresses (`10.1.2.3`).
 */
export function createAddressPolicy(allowCidrs: readonly string[]): AddressPolicy {
  const allowed = allowCidrs.map(parseAllowedRange);

  const inAllowList = (addr: Address): boolean =>
    allowed.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));

  const judge = (addr: Address): boolean => {
    if (inAllowList(addr)) return true;
    if (addr.kind() === 'ipv4') {
      const v4 = addr as ipaddr.IPv4;
      return v4.range() === 'unicast' && !inAny(v4, EXTRA_BLOCKED);
    }
    const v6 = addr as ipaddr.IPv6;
    const embedded = embeddedIPv4(v6);
    if (embedded === 'refuse') return false;
    if (embedded) return judge(embedded);
    return v6.match(IPV6_GLOBAL_UNICAST) && v6.range() === 'unicast' && !inAny(v6, EXTRA_BLOCKED);
  };

  return {
    isAllowed(ip: string): boolean {
      const addr = parseAddress(ip);
      return addr !== undefined && judge(addr);
    },
  };
}

function parseAllowedRange(entry: string): Cidr {
  const text = entry.trim();
  const problem = `FETCH_ALLOW_CIDRS: "${entry}" is not an address range (expected e.g. 127.0.0.0/8 or ::1/128)`;
  const slash = text.indexOf('/');
  const ipPart = slash === -1 ? text : text.slice(0, slash);
  // Only plain dotted-quad IPv4 here: "10.1/8" means different things to different parsers.
  if (!ipaddr.IPv6.isValid(ipPart) && !ipaddr.IPv4.isValidFourPartDecimal(ipPart)) throw new Error(problem);
  try {
    if (slash === -1) {
      const addr = ipaddr.parse(ipPart);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    }
    if (!/^\d{1,3}$/.test(text.slice(slash + 1))) throw new Error(problem);
    return ipaddr.parseCIDR(text);
  } catch {
    throw new Error(problem);
  }
}

function parseAddress(ip: string): Address | undefined {
  const text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // Zone ids (fe80::1%eth0) name an interface on this host: never a media server.
  if (text.includes('%')) return undefined;
  // IPv4-compatible written the deprecated way (inet_ntop prints ::/96 so): ipaddr.js would read it as
  // IPv4-mapped, we refuse it like every other ::/96 address.
  if (/^::\d+\.\d+\.\d+\.\d+$/.test(text)) return undefined;
  try {
    return ipaddr.parse(text);
  } catch {
    return undefined;
  }
}

function inAny(addr: Address, ranges: readonly Cidr[]): boolean {
  return ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
}

/** The IPv4 address an IPv6 address stands for, 'refuse' for forms we never connect to, else undefined. */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | 'refuse' | undefined {
  const p = v6.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  switch (v6.range()) {
    case 'ipv4Mapped':
      return v6.toIPv4Address();
    case 'rfc6145':
      return v4(p[6]!, p[7]!);
    case 'rfc6052':
      // Only the well-known 64:ff9b::/96 prefix embeds the address in the last 32 bits; 64:ff9b:1::/48 is local.
      return p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0 ? v4(p[6]!, p[7]!) : 'refuse';
    case '6to4':
      return v4(p[1]!, p[2]!);
    case 'teredo':
      return 'refuse';
    case 'unicast':
      // IPv4-compatible ::a.b.c.d (deprecated by RFC 4291): some stacks still route it to the IPv4 host.
      return p.slice(0, 6).every((x) => x === 0) ? 'refuse' : undefined;
    default:
      return undefined;
  }
}
