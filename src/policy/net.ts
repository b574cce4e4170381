// Network values of the policy language: addresses and CIDRs, ports and port ranges, host names.
// Pure parsing, shared by the checker (semantic.ts) and the compiler.

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, host bits cleared. IPv4-mapped IPv6 (::ffff:a.b.c.d) is returned as IPv4. */
  bytes: Uint8Array;
  prefix: number;
  /** Canonical text: "10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32". */
  canonical: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; hint?: string };

const fail = <T>(message: string, hint?: string): Parsed<T> => (hint === undefined ? { ok: false, message } : { ok: false, message, hint });

/**
 * Four decimal numbers from 0 to 255, without leading zeros, separated by dots. Read a character at
 * a time: a policy can list tens of thousands of addresses, each parsed by the checker and again
 * by the compiler.
 */
export function parseIPv4(s: string): Uint8Array | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || value > 255 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - 0x30);
      if (++digits > 3) return undefined;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.length > 45 || s.length < 2) return undefined;
  let head = s;
  let v4: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    head = s.slice(0, lastColon + 1);
    // Drop the ":" that separated the IPv4 part, unless it belongs to a "::" ("::1.2.3.4").
    if (!head.endsWith("::")) head = head.slice(0, -1);
  }
  const groupsWanted = v4 ? 6 : 8;
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (t: string): number[] | undefined => {
    if (t === "") return [];
    const out: number[] = [];
    for (const g of t.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 2) {
    const a = parseGroups(halves[0]!);
    const b = parseGroups(halves[1]!);
    if (!a || !b) return undefined;
    const missing = groupsWanted - a.length - b.length;
    if (missing < 1) return undefined;
    groups = [...a, ...new Array<number>(missing).fill(0), ...b];
  } else {
    const a = parseGroups(halves[0]!);
    if (!a || a.length !== groupsWanted) return undefined;
    groups = a;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

/** 16 bytes in ::ffff:0:0/96, the IPv4-mapped addresses. */
export function isMappedV4(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

export function formatIPv4(b: Uint8Array): string {
  return Array.from(b).join(".");
}

export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // Longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Clear the bits past `prefix`. */
function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** Whether a bit past `prefix` is set. */
function bitsPast(bytes: Uint8Array, prefix: number): boolean {
  for (let i = prefix >> 3; i < bytes.length; i++) {
    const keep = Math.max(0, prefix - i * 8);
    if (bytes[i]! & (0xff >> keep)) return true;
  }
  return false;
}

/** "0" to "128" without leading zeros, or -1. */
function prefixLength(text: string): number {
  const n = text.length;
  if (n === 0 || n > 3 || (n > 1 && text.charCodeAt(0) === 0x30)) return -1;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/**
 * parseCidr's answers to the texts it was asked lately: the checker and the compiler each read
 * every address of a policy, and a reload reads again the thousands the policy before it had.
 * Answers are shared, never changed. Emptied when full.
 */
const parsedCidrs = new Map<string, Parsed<Cidr>>();
const PARSED_CIDRS_MAX = 1 << 16;

/** An address ("10.0.0.5", "2001:db8::1", "::ffff:10.0.0.5") or a CIDR ("10.0.0.0/8"). */
export function parseCidr(text: string): Parsed<Cidr> {
  let r = parsedCidrs.get(text);
  if (r) return r;
  r = parseCidrText(text);
  if (parsedCidrs.size >= PARSED_CIDRS_MAX) parsedCidrs.clear();
  parsedCidrs.set(text, r);
  return r;
}

function parseCidrText(text: string): Parsed<Cidr> {
  const q = () => JSON.stringify(text);
  if (text.includes("%"))
    return fail(`Address ${q()} has a zone index`, "zone indices (\"%eth0\") are not supported; write the address alone");
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  let family: 4 | 6;
  let bytes = parseIPv4(addr);
  if (bytes) family = 4;
  else {
    bytes = parseIPv6(addr);
    if (!bytes) {
      if (/^[0-9.]+$/.test(addr))
        return fail(`Invalid IPv4 address ${q()}`, "write four numbers from 0 to 255 without leading zeros, such as \"10.0.0.5\"");
      if (addr.includes(":")) return fail(`Invalid IPv6 address ${q()}`, 'write it as in "2001:db8::1"');
      return fail(`Invalid address ${q()}`, 'write an IPv4 or IPv6 address or CIDR, such as "10.0.0.0/8"; put DNS names under "hosts"');
    }
    family = 6;
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    prefix = prefixLength(prefixText);
    if (prefix === -1 || prefix > max)
      return fail(`Invalid prefix length ${JSON.stringify("/" + prefixText)} in ${q()}`, `an IPv${family} prefix length is a number from 0 to ${max}`);
  }
  if (bitsPast(bytes, prefix)) {
    const masked = mask(bytes, prefix);
    const suggestion = `${family === 4 ? formatIPv4(masked) : formatIPv6(masked)}/${prefix}`;
    return fail(`Address ${q()} has bits set past its /${prefix} prefix`, `did you mean ${JSON.stringify(suggestion)}?`);
  }
  if (family === 6 && isMappedV4(bytes) && prefix >= 96) {
    const v4 = bytes.slice(12);
    return { ok: true, value: { family: 4, bytes: v4, prefix: prefix - 96, canonical: `${formatIPv4(v4)}/${prefix - 96}` } };
  }
  // An IPv4 address parseIPv4 accepts is written as formatIPv4 writes it (no leading zeros).
  const canonical = `${family === 4 ? addr : formatIPv6(bytes)}/${prefix}`;
  return { ok: true, value: { family, bytes, prefix, canonical } };
}

export interface PortRange {
  lo: number;
  hi: number;
}

/** 443, "443" or "8000-8100". */
export function parsePort(value: number | string): Parsed<PortRange> {
  const hint = 'write a port from 1 to 65535, such as 443, or a range such as "8000-8100"';
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 1 || value > 65535) return fail(`Port ${value} is out of range`, hint);
    return { ok: true, value: { lo: value, hi: value } };
  }
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(value);
  if (!m) return fail(`Invalid port ${JSON.stringify(value)}`, hint);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  for (const p of [lo, hi]) if (p < 1 || p > 65535) return fail(`Port ${p} is out of range`, hint);
  if (lo > hi) return fail(`Port range ${JSON.stringify(value)} ends before it starts`, `did you mean "${hi}-${lo}"?`);
  return { ok: true, value: { lo, hi } };
}

/** A DNS name the agent can resolve: letters, digits, "-" and "_" in labels, optional final dot. */
export function parseHost(text: string): Parsed<string> {
  const q = JSON.stringify(text);
  if (parseIPv4(text) || parseCidr(text).ok) return fail(`${q} is an address, not a host name`, 'move it to "addresses"');
  if (text.includes("*"))
    return fail(`Host ${q} contains a wildcard`, "a wildcard cannot be resolved to addresses; name each host");
  if (text.includes("://") || text.includes("/"))
    return fail(`Host ${q} is not a host name`, 'write the name alone, such as "kms.example.com", and put ports under "ports"');
  if (/:\d+$/.test(text)) return fail(`Host ${q} includes a port`, 'write the name alone and put the port under "ports"');
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return fail(`Invalid host name ${q}`, "a DNS name has 1 to 253 characters");
  for (const label of name.split(".")) {
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label))
      return fail(
        `Invalid host name ${q}`,
        label.length > 63
          ? "each dot-separated label has at most 63 characters"
          : 'use letters, digits and "-" in dot-separated labels, such as "kms.example.com"',
      );
  }
  if (/^[0-9.]+$/.test(name)) return fail(`Invalid host name ${q}`, "a host name is not all digits; put addresses under \"addresses\"");
  return { ok: true, value: name.toLowerCase() };
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.lo <= b.hi && b.lo <= a.hi;
}
