/**
 * IPv4 and IPv6 addresses and CIDR blocks, for the trunk access list. Addresses are held as
 * bigint so both families share one comparison; IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4.
 */

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

const V4_PART = /^(0|[1-9]\d{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;
const MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96, shifted right by 32

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!V4_PART.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6Groups(text: string): number[] | undefined {
  if (text === '') return [];
  const groups: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else {
      if (!V6_GROUP.test(part)) return undefined;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | undefined {
  const double = text.indexOf('::');
  let groups: number[];
  if (double >= 0) {
    if (text.indexOf('::', double + 1) >= 0) return undefined;
    const head = parseIpv6Groups(text.slice(0, double));
    const tail = parseIpv6Groups(text.slice(double + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseIpv6Groups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0"; undefined if not an address. */
export function parseIpAddress(input: string): IpAddress | undefined {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (!text.includes(':')) {
    const v4 = parseIpv4(text);
    return v4 === undefined ? undefined : { family: 4, value: v4 };
  }
  const v6 = parseIpv6(text);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === MAPPED_PREFIX) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
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
