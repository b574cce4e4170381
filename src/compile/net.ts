// The network section compiled (bpf/net.bpf.h decides with it): address prefixes -> destinations
// (an LPM trie holding IPv4 as ::ffff:a.b.c.d), the ports of prefixes whose destinations name ports
// or a protocol (a second LPM trie), grants (who a destination's allow names, which destinations a
// confinement reaches) and confinements. Pure, as the rest of the compiler.
import { Access, Confinement, Dest, DestFlag, DestKey, Grant, GrantKey, InodeKey, MAP_LIMITS, Mode, NetFlag, NetPolicy, PortDest, PortKey } from "../abi.ts";
import { formatIPv4, formatIPv6, isMappedV4, parseCidr, type Cidr, type PortRange } from "../policy/net.ts";
import type { CompileProblem, MapEntry, Origin, RuleInfo } from "./compile.ts";
import { RuleIds } from "./ids.ts";

export type Protocol = "tcp" | "udp";

/** A destination, defaults filled in; allow names executables of the compiler's input. */
export interface DestinationSpec {
  name: string;
  addresses: { cidr: Cidr; origin: Origin }[];
  /** DNS names: the addresses NetworkSpec.resolved holds for each count as this destination's. */
  hosts: { name: string; origin: Origin }[];
  /** Empty: every port. */
  ports: PortRange[];
  protocols: Protocol[];
  /** Absent: any executable may reach it (unless confined elsewhere). */
  allow?: string[];
  mode: "enforce" | "monitor";
  origin: Origin;
}

export interface ConfineSpec {
  executable: string;
  to: string[];
  mode: "enforce" | "monitor";
  origin: Origin;
}

export interface NetworkSpec {
  default: "allow" | "deny";
  /** The mode of network.default's refusals: the top-level mode. */
  mode: "enforce" | "monitor";
  /** Where the section (or its default) was written. */
  origin: Origin;
  destinations: DestinationSpec[];
  confine: ConfineSpec[];
  /** The addresses each host name resolves to now (src/agent/dns.ts); a name absent covers none. */
  resolved?: ReadonlyMap<string, readonly Cidr[]>;
}

/** An executable found on the host ("dev:ino" in inode). */
export interface NetExe {
  dev: number;
  ino: bigint;
  inode: string;
}

export interface CompiledNetwork {
  /** bf_net_policy of the generation. */
  net: Uint8Array;
  /** What the operator should know about the host names' addresses (not followed, shared). */
  warnings: string[];
}

/**
 * Addresses a host name is not followed to unless the policy names them itself: loopback,
 * link-local (which holds the usual cloud metadata address, 169.254.169.254), unspecified, and
 * other clouds' metadata addresses. A name that resolves there would open a door nobody wrote.
 */
const NOT_FOLLOWED: { text: string; why: string }[] = [
  { text: "127.0.0.0/8", why: "loopback" },
  { text: "0.0.0.0/8", why: "unspecified" },
  { text: "169.254.0.0/16", why: "link-local (cloud metadata)" },
  { text: "100.100.100.200/32", why: "a cloud metadata address" },
  { text: "::1/128", why: "loopback" },
  { text: "::/128", why: "unspecified" },
  { text: "fe80::/10", why: "link-local" },
  { text: "fd00:ec2::254/128", why: "a cloud metadata address" },
];

const PROTOCOL_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17 };
const ALL_PORTS: PortRange = { lo: 0, hi: 65535 };

/** A run of ports of one protocol that one destination has at a prefix. */
interface Span {
  lo: number;
  hi: number;
  rule: number;
  flags: number;
}

/** What a prefix decides: per protocol, disjoint spans sorted by port. */
interface Cover {
  tcp: Span[];
  udp: Span[];
}

interface Prefix {
  /** 16 bytes, IPv4 as ::ffff:a.b.c.d, bits past len cleared. */
  bytes: Uint8Array;
  len: number;
  own: Cover;
  cover?: Cover;
  /** Where its first address was written. */
  origin: Origin;
}

/**
 * An entry of the address and port maps, of which a policy with many addresses makes tens of
 * thousands: its note is written when read (only tests and debug output read it).
 */
class NetEntry implements MapEntry {
  constructor(
    readonly map: "dests" | "ports",
    readonly key: Uint8Array,
    readonly value: Uint8Array,
    readonly origin: Origin,
    private readonly describe: () => string,
  ) {}
  get note(): string {
    return this.describe();
  }
  /** The same entry, written at another line (src/compile/net-memo.ts). */
  at(origin: Origin): NetEntry {
    return new NetEntry(this.map, this.key, this.value, origin, this.describe);
  }
}

/** A network entry as written at another line: the same map, key, value and note. */
export function entryAt(entry: MapEntry, origin: Origin): MapEntry {
  return entry instanceof NetEntry ? entry.at(origin) : { map: entry.map, key: entry.key, value: entry.value, origin, note: entry.note };
}

/** IPv4 as IPv4-mapped IPv6: the kernel's trie holds one family. */
export function mappedPrefix(cidr: Cidr): { bytes: Uint8Array; len: number } {
  if (cidr.family === 6) return { bytes: cidr.bytes, len: cidr.prefix };
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(cidr.bytes, 12);
  return { bytes, len: 96 + cidr.prefix };
}

function maskTo(bytes: Uint8Array, len: number): Uint8Array {
  return maskInto(new Uint8Array(16), bytes, len);
}

function maskInto(out: Uint8Array, bytes: Uint8Array, len: number): Uint8Array {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    out[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/**
 * A prefix's key in the compiler's maps. An IPv4 prefix (::ffff:a.b.c.d, 96 bits or more), nearly
 * every one a policy names, is a number: its address and length (40 bits, exact in a double);
 * any other, a string of its bytes and its length. Tens of thousands are made for a large policy.
 */
type PrefixId = number | string;
function prefixId(bytes: Uint8Array, len: number): PrefixId {
  if (len >= 96 && isMappedV4(bytes)) return (((bytes[12]! * 256 + bytes[13]!) * 256 + bytes[14]!) * 256 + bytes[15]!) * 256 + len;
  // Eight 16-bit code units and the length: a key, never shown (hex through a Buffer took 12% of
  // the time of compiling a large policy's network section).
  return String.fromCharCode(
    (bytes[0]! << 8) | bytes[1]!,
    (bytes[2]! << 8) | bytes[3]!,
    (bytes[4]! << 8) | bytes[5]!,
    (bytes[6]! << 8) | bytes[7]!,
    (bytes[8]! << 8) | bytes[9]!,
    (bytes[10]! << 8) | bytes[11]!,
    (bytes[12]! << 8) | bytes[13]!,
    (bytes[14]! << 8) | bytes[15]!,
    len,
  );
}

/** A prefix as people write it. */
export function prefixText(bytes: Uint8Array, len: number): string {
  const mapped = len >= 96 && isMappedV4(bytes);
  return mapped ? `${formatIPv4(bytes.subarray(12))}/${len - 96}` : `${formatIPv6(bytes)}/${len}`;
}

/** Spans minus the ports `cut` covers. */
function subtract(spans: readonly Span[], cut: readonly Span[]): Span[] {
  let out = [...spans];
  for (const c of cut) {
    const next: Span[] = [];
    for (const s of out) {
      if (s.hi < c.lo || s.lo > c.hi) {
        next.push(s);
        continue;
      }
      if (s.lo < c.lo) next.push({ ...s, hi: c.lo - 1 });
      if (s.hi > c.hi) next.push({ ...s, lo: c.hi + 1 });
    }
    out = next;
  }
  return out;
}

const byPort = (a: Span, b: Span) => a.lo - b.lo;

/** One destination's spans, overlapping ones merged, sorted by port (what claiming them one by one gives). */
function disjoint(spans: Span[]): Span[] {
  if (spans.length === 1) return spans;
  const out: Span[] = [];
  for (const s of spans) out.push(...subtract([s], out));
  return out.sort(byPort);
}

/** The prefix lengths a set of prefixes uses, longest first. */
function lengthsOf(held: ReadonlyMap<PrefixId, Prefix>): number[] {
  return [...new Set([...held.values()].map((p) => p.len))].sort((a, b) => b - a);
}

/**
 * The longest prefix of `held` shorter than `below` bits that contains bytes: one map lookup per
 * prefix length it uses (lengthsOf, a handful), not a scan of the prefixes.
 */
function enclosing(held: ReadonlyMap<PrefixId, Prefix>, lengths: readonly number[], bytes: Uint8Array, below: number): Prefix | undefined {
  for (const len of lengths) {
    if (len >= below) continue;
    const p = held.get(prefixId(maskInto(masked, bytes, len), len));
    if (p) return p;
  }
  return undefined;
}
/** enclosing's scratch: prefixId keeps nothing of the bytes it is given. */
const masked = new Uint8Array(16);

/** A prefix's own destinations, then what its enclosing prefix decides for the ports they leave out. */
function coverOf(own: Cover, parent: Cover | undefined): Cover {
  if (!parent) return own;
  return {
    tcp: [...own.tcp, ...subtract(parent.tcp, own.tcp)].sort(byPort),
    udp: [...own.udp, ...subtract(parent.udp, own.udp)].sort(byPort),
  };
}

/** Port ranges as aligned power-of-two blocks: [first port, bits fixed]. */
export function portBlocks(lo: number, hi: number): [number, number][] {
  const out: [number, number][] = [];
  let p = lo;
  while (p <= hi) {
    let size = 1;
    let bits = 16;
    while (bits > 0 && p % (size * 2) === 0 && p + size * 2 - 1 <= hi) {
      size *= 2;
      bits--;
    }
    out.push([p, bits]);
    p += size;
  }
  return out;
}

/** Is the whole of both protocols one destination's? Then the prefix needs no port entries. */
function uniform(cover: Cover): Span | undefined {
  if (cover.tcp.length !== 1 || cover.udp.length !== 1) return undefined;
  const a = cover.tcp[0]!;
  const b = cover.udp[0]!;
  return a.lo === 0 && a.hi === 65535 && b.lo === 0 && b.hi === 65535 && a.rule === b.rule && a.flags === b.flags ? a : undefined;
}

/**
 * The section's rules (their ids from `ids`) and map entries. exes: the executables found on
 * the host, by name (a name missing is one whose problem is reported already).
 */
export function compileNetwork(
  spec: NetworkSpec,
  exes: ReadonlyMap<string, NetExe>,
  rules: RuleInfo[],
  entries: MapEntry[],
  problems: CompileProblem[],
  ids: RuleIds = new RuleIds(),
): CompiledNetwork {
  const noFile = { dev: 0, ino: 0n };
  const defaultRule: RuleInfo = { id: ids.id("network", "network.default"), kind: "network", path: "network.default", origin: spec.origin, inode: noFile, mode: spec.mode };
  rules.push(defaultRule);

  const grants = new Map<string, { bits: number; rule: number; exe: NetExe; origin: Origin; names: string[] }>();
  const grant = (rule: number, exe: NetExe, bits: number, origin: Origin, what: string) => {
    const k = `${rule}:${exe.inode}`;
    const g = grants.get(k);
    if (g) {
      g.bits |= bits;
      g.names.push(what);
    } else grants.set(k, { bits, rule, exe, origin, names: [what] });
  };

  // Destinations: one rule each; their addresses become prefixes. Written addresses first: a host
  // name's address that one of them (or an earlier destination's name) holds already stays theirs.
  const ruleOf = new Map<string, number>();
  const pathOf = new Map<number, string>(); // a destination's rule id -> its path, for notes
  const prefixes = new Map<PrefixId, Prefix>();
  const warnings: string[] = [];
  // A destination's own spans, the same at each of its addresses: made once.
  const spansOf = (d: DestinationSpec, rule: number): Span[] => {
    const flags = (d.mode === "monitor" ? DestFlag.MONITOR : 0) | (d.allow ? DestFlag.RESERVED : 0);
    const ranges = d.ports.length ? d.ports : [ALL_PORTS];
    // Ports of one destination may overlap (a warning): merged.
    return disjoint(ranges.map((r) => ({ lo: r.lo, hi: r.hi, rule, flags })));
  };
  const claim = (d: DestinationSpec, mine: readonly Span[], rule: number, bytes: Uint8Array, len: number, origin: Origin, host?: string): void => {
    const id = prefixId(bytes, len);
    const p = prefixes.get(id);
    if (!p) {
      // The first destination at a prefix (nearly always the only one): its ports as they are.
      const own: Cover = { tcp: [], udp: [] };
      for (const proto of d.protocols) own[proto] = mine.slice();
      prefixes.set(id, { bytes, len, own, origin });
      return;
    }
    for (const proto of d.protocols) {
      let spans = subtract(mine, p.own[proto].filter((x) => x.rule === rule));
      if (host !== undefined) {
        const taken = p.own[proto].filter((x) => x.rule !== rule);
        const left = subtract(spans, taken);
        if (left.length !== spans.length || left.some((x, i) => x.lo !== spans[i]!.lo || x.hi !== spans[i]!.hi)) {
          const other = pathOf.get(taken[0]!.rule)!;
          warnings.push(`"${host}" (${d.name}) resolves to ${prefixText(bytes, len)}, which ${other} names already for some of the same ports: those stay ${other}'s`);
        }
        spans = left;
      }
      p.own[proto].push(...spans);
      p.own[proto].sort(byPort);
    }
  };
  for (const d of spec.destinations) {
    const path = `network.destinations.${d.name}`;
    const rule: RuleInfo = { id: ids.id("destination", path), kind: "destination", path, origin: d.origin, inode: noFile, mode: d.mode };
    rules.push(rule);
    ruleOf.set(d.name, rule.id);
    pathOf.set(rule.id, path);
    const mine = spansOf(d, rule.id);
    for (const a of d.addresses) {
      const { bytes, len } = mappedPrefix(a.cidr);
      claim(d, mine, rule.id, bytes, len, a.origin);
    }
    for (const name of d.allow ?? []) {
      const exe = exes.get(name);
      if (exe) grant(rule.id, exe, Access.CONNECT, d.origin, `${name} may connect`);
    }
  }
  const written = new Map(prefixes); // before the host names' addresses join them
  const writtenLengths = lengthsOf(written);
  const writtenCovers = (bytes: Uint8Array) => enclosing(written, writtenLengths, bytes, 129) !== undefined;
  const notFollowed = NOT_FOLLOWED.map((n) => ({ ...mappedPrefix((parseCidr(n.text) as { ok: true; value: Cidr }).value), why: n.why }));
  for (const d of spec.destinations) {
    const rule = ruleOf.get(d.name)!;
    const mine = d.hosts.length ? spansOf(d, rule) : [];
    for (const h of d.hosts) {
      for (const cidr of spec.resolved?.get(h.name) ?? []) {
        const { bytes, len } = mappedPrefix(cidr);
        const special = notFollowed.find((n) => prefixId(maskTo(bytes, n.len), n.len) === prefixId(n.bytes, n.len));
        if (special && !writtenCovers(bytes)) {
          warnings.push(`"${h.name}" (${d.name}) resolves to ${prefixText(bytes, len)}, ${special.why}: not followed (name that address under "addresses" if it is meant)`);
          continue;
        }
        claim(d, mine, rule, bytes, len, h.origin, h.name);
      }
    }
  }

  // Each prefix decides for every port: its own destinations, then the enclosing prefix's.
  const lengths = lengthsOf(prefixes);
  const ordered = [...prefixes.values()].sort((a, b) => a.len - b.len);
  let portsIds = 0;
  let portEntries = 0;
  for (const p of ordered) {
    p.cover = coverOf(p.own, enclosing(prefixes, lengths, p.bytes, p.len)?.cover);
    const key = DestKey.encode({ prefixlen: p.len, addr: p.bytes });
    const whole = uniform(p.cover);
    const origin = p.origin;
    if (whole) {
      const value = Dest.encode({ rule_id: whole.rule, ports: 0, flags: whole.flags });
      entries.push(new NetEntry("dests", key, value, origin, wholeNote(p.bytes, p.len, whole.rule, pathOf.get(whole.rule)!, whole.flags)));
      continue;
    }
    const id = ++portsIds;
    // For sockets without ports (a raw socket's sendto): the prefix is reserved if a destination here is.
    const reserved = [...p.cover.tcp, ...p.cover.udp].find((s) => s.flags & DestFlag.RESERVED);
    const value = Dest.encode({ rule_id: reserved?.rule ?? 0, ports: id, flags: reserved?.flags ?? 0 });
    entries.push(new NetEntry("dests", key, value, origin, portsIdNote(p.bytes, p.len, id, reserved?.rule)));
    for (const proto of ["tcp", "udp"] as const) {
      for (const s of p.cover[proto]) {
        for (const [port, bits] of portBlocks(s.lo, s.hi)) {
          const data = new Uint8Array(8);
          data[0] = id >>> 24;
          data[1] = id >>> 16;
          data[2] = id >>> 8;
          data[3] = id;
          data[4] = PROTOCOL_NUMBER[proto];
          data[5] = port >> 8;
          data[6] = port & 0xff;
          portEntries++;
          const value = PortDest.encode({ rule_id: s.rule, flags: s.flags });
          entries.push(
            new NetEntry("ports", PortKey.encode({ prefixlen: 40 + bits, data }), value, origin, portNote(p.bytes, p.len, proto, port, bits, s.rule, pathOf.get(s.rule)!, s.flags)),
          );
        }
      }
    }
  }
  if (prefixes.size > MAP_LIMITS.dests || portEntries > MAP_LIMITS.ports)
    problems.push({
      origin: spec.origin,
      message: `The network rules need ${prefixes.size} address prefixes and ${portEntries} port entries; the kernel holds at most ${MAP_LIMITS.dests} and ${MAP_LIMITS.ports}`,
      hint: "name fewer addresses, or fewer port ranges per address",
    });

  // Confinements: the executable's entry, and a grant to reach each destination of its "to".
  for (const [i, c] of spec.confine.entries()) {
    const rule: RuleInfo = { id: ids.id("confinement", `network.confine[${i}]`), kind: "confinement", path: `network.confine[${i}]`, origin: c.origin, inode: noFile, mode: c.mode };
    rules.push(rule);
    const exe = exes.get(c.executable);
    if (!exe) continue;
    entries.push({
      map: "confined",
      key: InodeKey.encode({ ino: exe.ino, dev: exe.dev }),
      value: Confinement.encode({ rule_id: rule.id, mode: c.mode === "monitor" ? Mode.MONITOR : Mode.ENFORCE }),
      origin: c.origin,
      note: `${c.executable} (dev ${exe.dev}, ino ${exe.ino}) is confined as rule ${rule.id}, ${c.mode}: it and its descendants reach ${c.to.join(", ")} only`,
    });
    for (const to of c.to) {
      const dest = ruleOf.get(to);
      if (dest === undefined) throw new Error(`Bug: confinement to "${to}", which is not a destination of the compiler's input`);
      grant(dest, exe, Access.REACH, c.origin, `${c.executable} confined to it`);
    }
  }
  for (const g of grants.values()) {
    entries.push({
      map: "grants",
      key: GrantKey.encode({ rule_id: g.rule, dev: g.exe.dev, ino: g.exe.ino }),
      value: Grant.encode({ access: g.bits }),
      origin: g.origin,
      note: `rule ${g.rule} (${pathOf.get(g.rule)}): ${g.names.join(", ")} (dev ${g.exe.dev}, ino ${g.exe.ino})`,
    });
  }

  const flags =
    NetFlag.ON |
    (spec.default === "deny" ? NetFlag.DENY : 0) |
    (spec.default === "deny" && spec.mode === "monitor" ? NetFlag.DENY_MONITOR : 0) |
    (entries.some((e) => e.map === "confined") ? NetFlag.CONFINES : 0);
  return { net: NetPolicy.encode({ flags, default_rule: defaultRule.id }), warnings: [...new Set(warnings)] };
}

// The notes of address and port entries, written when read. Made here, outside compileNetwork, so
// that an entry kept for the next reload (src/compile/net-memo.ts) keeps alive only what its note
// says, not everything compileNetwork's scope holds (every prefix and its ports).
function wholeNote(bytes: Uint8Array, len: number, rule: number, path: string, flags: number): () => string {
  return () => `${prefixText(bytes, len)}: every port and protocol is rule ${rule}'s (${path})${flagNote(flags)}`;
}

function portsIdNote(bytes: Uint8Array, len: number, id: number, reservedBy: number | undefined): () => string {
  return () => `${prefixText(bytes, len)}: ports id ${id}${reservedBy !== undefined ? `; reserved by rule ${reservedBy} for sockets without ports` : ""}`;
}

function portNote(bytes: Uint8Array, len: number, proto: Protocol, port: number, bits: number, rule: number, path: string, flags: number): () => string {
  return () => `${prefixText(bytes, len)} ${proto} ports ${port}-${port + 2 ** (16 - bits) - 1}: rule ${rule} (${path})${flagNote(flags)}`;
}

function flagNote(flags: number): string {
  return `${flags & DestFlag.RESERVED ? ", reserved" : ""}${flags & DestFlag.MONITOR ? ", monitor" : ""}`;
}
