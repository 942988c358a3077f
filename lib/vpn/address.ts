/**
 * IPv4 and IPv6 addresses and CIDR blocks, for the trunk access list. Parsed by ipaddr.js; held as
 * bigint so both families share one comparison; IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4.
 */
import ipaddr from 'ipaddr.js';

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  network: bigint;
  bits: number;
  /** As written, for messages. */
  text: string;
}

/** An ipaddr.js address as one number: both families compare and mask alike. */
function toBigint(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let value = 0n;
  for (const byte of addr.toByteArray()) value = (value << 8n) | BigInt(byte);
  return value;
}

/**
 * Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0" with ipaddr.js; undefined
 * if not an address. IPv4 only in four decimal parts: ipaddr.js (like inet_aton) would also read
 * "127.1", "0x7f.0.0.1" or "010.0.0.1", which on an access list would be a surprise.
 */
export function parseIpAddress(input: string): IpAddress | undefined {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (!text.includes(':')) {
    return ipaddr.IPv4.isValidFourPartDecimal(text) ? { family: 4, value: toBigint(ipaddr.IPv4.parse(text)) } : undefined;
  }
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  const v6 = ipaddr.IPv6.parse(text);
  if (v6.isIPv4MappedAddress()) return { family: 4, value: toBigint(v6.toIPv4Address()) };
  return { family: 6, value: toBigint(v6) };
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address (a /32 or /128). */
export function parseCidr(input: string): Cidr | undefined {
  const text = input.trim();
  const slash = text.indexOf('/');
  const address = parseIpAddress(slash >= 0 ? text.slice(0, slash) : text);
  if (!address) return undefined;
  const width = address.family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(suffix)) return undefined;
    bits = Number(suffix);
    if (bits > width) return undefined;
  }
  const hostBits = BigInt(width - bits);
  const network = (address.value >> hostBits) << hostBits;
  return { family: address.family, network, bits, text };
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  if (cidr.family !== address.family) return false;
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.bits);
  return (address.value >> hostBits) << hostBits === cidr.network;
}

function exactKey(family: 4 | 6, value: bigint): string {
  return `${family}:${value.toString(16)}`;
}

/**
 * Finds which entry owns a source address: an exact address first, then the most specific block.
 * Duplicate blocks across owners are reported by `add` so the caller can refuse the set.
 */
export class AddressTable<T> {
  private readonly exact = new Map<string, { cidr: Cidr; owner: T }>();
  private blocks: { cidr: Cidr; owner: T }[] = [];
  private sorted = true;

  /** Adds a block; returns the owner already holding the identical block, if any. */
  add(cidr: Cidr, owner: T): T | undefined {
    const full = cidr.bits === (cidr.family === 4 ? 32 : 128);
    const key = exactKey(cidr.family, cidr.network) + (full ? '' : `/${cidr.bits}`);
    if (full) {
      const held = this.exact.get(key);
      if (held) return held.owner;
      this.exact.set(key, { cidr, owner });
      return undefined;
    }
    const held = this.blocks.find((b) => b.cidr.family === cidr.family && b.cidr.bits === cidr.bits && b.cidr.network === cidr.network);
    if (held) return held.owner;
    this.blocks.push({ cidr, owner });
    this.sorted = false;
    return undefined;
  }

  match(address: string): T | undefined {
    const parsed = parseIpAddress(address);
    if (!parsed) return undefined;
    const hit = this.exact.get(exactKey(parsed.family, parsed.value));
    if (hit) return hit.owner;
    if (!this.sorted) {
      this.blocks.sort((a, b) => b.cidr.bits - a.cidr.bits);
      this.sorted = true;
    }
    for (const block of this.blocks) {
      if (cidrContains(block.cidr, parsed)) return block.owner;
    }
    return undefined;
  }
}
