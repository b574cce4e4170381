// The network compiler (src/compile/net.ts): what the kernel's two lookups find for a destination
// (bpf/net.bpf.h), replayed here over the compiled entries with a longest-prefix match written
// independently of the compiler.
import { describe, expect, test } from "bun:test";
import { Access, Confinement, Dest, DestFlag, DestKey, Exe, ExeFlag, Grant, GrantKey, InodeKey, NetFlag, NetPolicy, PortDest, PortKey } from "../../src/abi.ts";
import { compile, type CompileInput, type HostFacts, type MapEntry } from "../../src/compile/compile.ts";
import { portBlocks, type DestinationSpec, type NetworkSpec } from "../../src/compile/net.ts";
import { destinationText } from "../../src/events.ts";
import { FLOOR_MS, HostAddresses } from "../../src/agent/dns.ts";
import { parseCidr } from "../../src/policy/net.ts";

const at = (line: number) => ({ file: "p.yaml", line, col: 5 });
const host: HostFacts = (path) => ({ dev: 1, ino: BigInt(path.length * 100 + path.charCodeAt(path.length - 1)), type: "file" });
const exe = (name: string, line: number) => ({ name, path: `/usr/bin/${name}`, inherit: true, origin: at(line), mode: "enforce" as const });

const dest = (name: string, addresses: string[], more: Partial<DestinationSpec> = {}): DestinationSpec => ({
  name,
  addresses: addresses.map((a, i) => {
    const r = parseCidr(a);
    if (!r.ok) throw new Error(r.message);
    return { cidr: r.value, origin: at(30 + i) };
  }),
  hosts: [],
  ports: [],
  protocols: ["tcp", "udp"],
  mode: "enforce",
  origin: at(20),
  ...more,
});

function compiled(network: Partial<NetworkSpec>, executables = [exe("signer", 3), exe("web", 4), exe("curl", 5)]) {
  const input: CompileInput = {
    executables,
    files: [],
    network: { default: "allow", mode: "enforce", origin: at(10), destinations: [], confine: [], ...network },
  };
  const r = compile(input, host);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.compiled;
}

/** Does the first `bits` bits of a and b agree? */
function prefixMatches(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const bit = (x: Uint8Array) => (x[i >> 3]! >> (7 - (i & 7))) & 1;
    if (bit(a) !== bit(b)) return false;
  }
  return true;
}

/** The longest entry of an LPM map whose prefix matches data. */
function longest<K extends { prefixlen: number }>(entries: MapEntry[], map: string, decode: (b: Uint8Array) => K, data: (k: K) => Uint8Array, want: Uint8Array) {
  let best: MapEntry | undefined;
  let bestLen = -1;
  for (const e of entries) {
    if (e.map !== map) continue;
    const k = decode(e.key);
    if (k.prefixlen > bestLen && prefixMatches(data(k), want, k.prefixlen)) {
      best = e;
      bestLen = k.prefixlen;
    }
  }
  return best;
}

/** What bpf/net.bpf.h's bf_net_decide finds: the destination's rule, or undefined. */
function find(entries: MapEntry[], address: string, port: number, protocol: "tcp" | "udp" | "raw"): number | undefined {
  const c = parseCidr(address);
  if (!c.ok) throw new Error(c.message);
  const addr = new Uint8Array(16);
  if (c.value.family === 4) {
    addr[10] = addr[11] = 0xff;
    addr.set(c.value.bytes, 12);
  } else addr.set(c.value.bytes);
  const d = longest(entries, "dests", (b) => DestKey.decode(b), (k) => k.addr, addr);
  if (!d) return undefined;
  const v = Dest.decode(d.value);
  if (!v.ports) return v.rule_id;
  if (protocol === "raw") return v.flags & DestFlag.RESERVED ? v.rule_id : undefined;
  const want = new Uint8Array([v.ports >>> 24, (v.ports >>> 16) & 0xff, (v.ports >>> 8) & 0xff, v.ports & 0xff, protocol === "tcp" ? 6 : 17, port >> 8, port & 0xff, 0]);
  const p = longest(entries, "ports", (b) => PortKey.decode(b), (k) => k.data, want);
  return p ? PortDest.decode(p.value).rule_id : undefined;
}

const ruleNamed = (c: ReturnType<typeof compiled>, path: string) => c.rules.find((r) => r.path === path)!.id;

describe("destinations", () => {
  test("an IPv4 address is found for IPv4 and its IPv4-mapped IPv6 form; an IPv6 CIDR for addresses inside it only", () => {
    const c = compiled({ destinations: [dest("kms", ["10.0.0.5"]), dest("db", ["fd00:20::/64"])] });
    const kms = ruleNamed(c, "network.destinations.kms");
    const db = ruleNamed(c, "network.destinations.db");
    expect(find(c.entries, "10.0.0.5", 443, "tcp")).toBe(kms);
    expect(find(c.entries, "::ffff:10.0.0.5", 53, "udp")).toBe(kms);
    expect(find(c.entries, "10.0.0.6", 443, "tcp")).toBeUndefined();
    expect(find(c.entries, "fd00:20::1", 5432, "tcp")).toBe(db);
    expect(find(c.entries, "fd00:21::1", 5432, "tcp")).toBeUndefined();
    // Every port and protocol: one entry, no port entries.
    expect(c.entries.filter((e) => e.map === "ports")).toEqual([]);
  });

  test("the most specific destination that matches decides; its ports left out fall to the enclosing one", () => {
    const c = compiled({
      destinations: [dest("net", ["10.0.0.0/8"]), dest("web", ["10.1.2.3"], { ports: [{ lo: 443, hi: 443 }, { lo: 8000, hi: 8100 }], protocols: ["tcp"] })],
    });
    const net = ruleNamed(c, "network.destinations.net");
    const web = ruleNamed(c, "network.destinations.web");
    expect(find(c.entries, "10.1.2.3", 443, "tcp")).toBe(web);
    expect(find(c.entries, "10.1.2.3", 8000, "tcp")).toBe(web);
    expect(find(c.entries, "10.1.2.3", 8100, "tcp")).toBe(web);
    expect(find(c.entries, "10.1.2.3", 8101, "tcp")).toBe(net);
    expect(find(c.entries, "10.1.2.3", 7999, "tcp")).toBe(net);
    expect(find(c.entries, "10.1.2.3", 443, "udp")).toBe(net);
    expect(find(c.entries, "10.1.2.3", 0, "tcp")).toBe(net);
    expect(find(c.entries, "10.9.9.9", 443, "tcp")).toBe(net);
    expect(find(c.entries, "11.0.0.1", 443, "tcp")).toBeUndefined();
  });

  test("IPv6 too: the most specific prefix decides, the ports it leaves out fall to the enclosing one, and prefixes differing in length or a low bit are apart", () => {
    const c = compiled({
      destinations: [
        dest("wide", ["fd00::/16"]),
        dest("web", ["fd00:1::/32", "fd00:1:0:0:0:0:0:1"], { ports: [{ lo: 443, hi: 443 }], protocols: ["tcp"] }),
        dest("deep", ["fd00:1::/33"], { ports: [{ lo: 22, hi: 22 }], protocols: ["tcp"] }),
        dest("one", ["fd00:1::1:0/112"], { ports: [{ lo: 8080, hi: 8080 }], protocols: ["tcp"] }),
      ],
    });
    const [wide, web, deep, one] = ["wide", "web", "deep", "one"].map((n) => ruleNamed(c, `network.destinations.${n}`));
    expect(find(c.entries, "fd00:1::1", 443, "tcp")).toBe(web);
    expect(find(c.entries, "fd00:1::1", 80, "tcp")).toBe(wide);
    expect(find(c.entries, "fd00:1::5", 22, "tcp")).toBe(deep);
    expect(find(c.entries, "fd00:1::5", 443, "tcp")).toBe(web);
    expect(find(c.entries, "fd00:1::5", 80, "udp")).toBe(wide);
    expect(find(c.entries, "fd00:1:8000::5", 22, "tcp")).toBe(wide);
    expect(find(c.entries, "fd00:1:8000::5", 443, "tcp")).toBe(web);
    expect(find(c.entries, "fd00:1::1:7", 8080, "tcp")).toBe(one);
    expect(find(c.entries, "fd00:1::1:7", 22, "tcp")).toBe(deep);
    expect(find(c.entries, "fd00:1::1:7", 53, "udp")).toBe(wide);
    expect(find(c.entries, "fd01::1", 443, "tcp")).toBeUndefined();
  });

  test("a destination whose ports overlap (a warning of the checker) makes each port block once, for one address or two", () => {
    const ports = [{ lo: 80, hi: 80 }, { lo: 1, hi: 100 }, { lo: 90, hi: 200 }, { lo: 80, hi: 80 }, { lo: 64, hi: 95 }];
    const c = compiled({ destinations: [dest("web", ["192.0.2.1", "192.0.2.0/24"], { ports })] });
    const web = ruleNamed(c, "network.destinations.web");
    const keys = c.entries.filter((e) => e.map === "ports").map((e) => Buffer.from(e.key).toString("hex"));
    expect(new Set(keys).size).toBe(keys.length);
    for (const address of ["192.0.2.1", "192.0.2.9"]) {
      for (const port of [1, 80, 100, 101, 200]) expect(find(c.entries, address, port, "tcp")).toBe(web);
      expect(find(c.entries, address, 201, "udp")).toBeUndefined();
    }
  });
  test("a destination on a port inside a prefix with none: other ports match nothing", () => {
    const c = compiled({ destinations: [dest("dns", ["10.0.0.2"], { ports: [{ lo: 53, hi: 53 }] })] });
    const dns = ruleNamed(c, "network.destinations.dns");
    expect(find(c.entries, "10.0.0.2", 53, "udp")).toBe(dns);
    expect(find(c.entries, "10.0.0.2", 53, "tcp")).toBe(dns);
    expect(find(c.entries, "10.0.0.2", 54, "udp")).toBeUndefined();
  });

  test("one address in two destinations with different ports: each port finds its own", () => {
    const c = compiled({
      destinations: [dest("a", ["192.0.2.1"], { ports: [{ lo: 1, hi: 1000 }] }), dest("b", ["192.0.2.1"], { ports: [{ lo: 1001, hi: 65535 }], allow: ["web"] })],
    });
    expect(find(c.entries, "192.0.2.1", 1000, "tcp")).toBe(ruleNamed(c, "network.destinations.a"));
    expect(find(c.entries, "192.0.2.1", 1001, "udp")).toBe(ruleNamed(c, "network.destinations.b"));
    expect(find(c.entries, "192.0.2.1", 65535, "udp")).toBe(ruleNamed(c, "network.destinations.b"));
    // A socket without ports (raw) to an address a destination reserves: decided as that destination.
    expect(find(c.entries, "192.0.2.1", 0, "raw")).toBe(ruleNamed(c, "network.destinations.b"));
  });

  test("port ranges become aligned blocks that cover the range exactly", () => {
    for (const [lo, hi] of [[1, 65535], [0, 65535], [8000, 8100], [443, 443], [1023, 1025], [32768, 60999]] as const) {
      const blocks = portBlocks(lo, hi);
      let next = lo;
      for (const [port, bits] of blocks) {
        expect(port).toBe(next);
        const size = 2 ** (16 - bits);
        expect(port % size).toBe(0);
        next = port + size;
      }
      expect(next - 1).toBe(hi);
      expect(blocks.length).toBeLessThanOrEqual(32);
    }
  });
});

describe("grants, confinements, settings", () => {
  const network: Partial<NetworkSpec> = {
    default: "deny",
    mode: "monitor",
    destinations: [dest("kms", ["10.0.0.5"], { allow: ["signer"], mode: "monitor" }), dest("dns", ["10.0.0.2"], { ports: [{ lo: 53, hi: 53 }] })],
    confine: [{ executable: "signer", to: ["kms", "dns"], mode: "enforce", origin: at(40) }],
  };

  test("allow is a connect grant, a confinement's destinations reach grants, on the same entry when both", () => {
    const c = compiled(network);
    const grants = c.entries.filter((e) => e.map === "grants").map((e) => ({ ...GrantKey.decode(e.key), access: Grant.decode(e.value).access }));
    const signer = host("/usr/bin/signer", "executable")!;
    expect(grants).toEqual([
      { rule_id: ruleNamed(c, "network.destinations.kms"), dev: 1, ino: signer.ino, access: Access.CONNECT | Access.REACH },
      { rule_id: ruleNamed(c, "network.destinations.dns"), dev: 1, ino: signer.ino, access: Access.REACH },
    ]);
  });

  test("a confined executable: its entry, its flag; a destination's grantee is protected while it runs", () => {
    const c = compiled(network);
    const signer = host("/usr/bin/signer", "executable")!;
    const confined = c.entries.filter((e) => e.map === "confined");
    expect(confined.map((e) => [InodeKey.decode(e.key).ino, Confinement.decode(e.value)])).toEqual([[signer.ino, { rule_id: ruleNamed(c, "network.confine[0]"), mode: 0 }]]);
    const flags = (name: string) => Exe.decode(c.entries.find((e) => e.map === "exes" && e.note.startsWith(`executable ${name}:`))!.value).flags;
    expect(flags("signer") & ExeFlag.CONFINED).toBeTruthy();
    expect(flags("signer") & ExeFlag.SECURE_EXEC).toBeTruthy();
    expect(flags("web") & (ExeFlag.CONFINED | ExeFlag.SECURE_EXEC)).toBe(0);
  });

  test("default deny in monitor mode, and the destinations' own modes", () => {
    const c = compiled(network);
    expect(NetPolicy.decode(c.net!)).toEqual({ flags: NetFlag.ON | NetFlag.DENY | NetFlag.DENY_MONITOR | NetFlag.CONFINES, default_rule: ruleNamed(c, "network.default") });
    const kms = c.entries.find((e) => e.map === "dests" && e.note.startsWith("10.0.0.5/32"))!;
    expect(Dest.decode(kms.value).flags).toBe(DestFlag.MONITOR | DestFlag.RESERVED);
    const plain = compiled({});
    expect(NetPolicy.decode(plain.net!)).toEqual({ flags: NetFlag.ON, default_rule: ruleNamed(plain, "network.default") });
  });

  test("a policy without a network section decides no connection", () => {
    const r = compile({ executables: [], files: [] }, host);
    expect(r.ok && r.compiled.net).toBeUndefined();
  });
});

test("events write destinations as people do", () => {
  const v4 = new Uint8Array(16);
  v4[10] = v4[11] = 0xff;
  v4.set([10, 0, 0, 5], 12);
  expect(destinationText(v4, 443)).toBe("10.0.0.5:443");
  const v6 = new Uint8Array(16);
  v6.set([0x20, 0x01, 0x0d, 0xb8]);
  v6[15] = 1;
  expect(destinationText(v6, 53)).toBe("[2001:db8::1]:53");
});

describe("host names", () => {
  const cidr = (a: string) => {
    const r = parseCidr(a);
    if (!r.ok) throw new Error(r.message);
    return r.value;
  };

  test("a name's addresses count as its destination's; loopback and link-local only where the policy names them", () => {
    const resolved = new Map([["kms.example.com", [cidr("192.0.2.7"), cidr("2001:db8::7"), cidr("127.0.0.9"), cidr("169.254.169.254")]]]);
    const kms = dest("kms", [], { hosts: [{ name: "kms.example.com", origin: at(25) }], allow: ["signer"] });
    const c = compiled({ destinations: [kms], resolved });
    const rule = ruleNamed(c, "network.destinations.kms");
    expect(find(c.entries, "192.0.2.7", 443, "tcp")).toBe(rule);
    expect(find(c.entries, "2001:db8::7", 443, "udp")).toBe(rule);
    expect(find(c.entries, "127.0.0.9", 443, "tcp")).toBeUndefined();
    expect(find(c.entries, "169.254.169.254", 80, "tcp")).toBeUndefined();
    expect(c.warnings).toEqual([
      '"kms.example.com" (kms) resolves to 127.0.0.9/32, loopback: not followed (name that address under "addresses" if it is meant)',
      '"kms.example.com" (kms) resolves to 169.254.169.254/32, link-local (cloud metadata): not followed (name that address under "addresses" if it is meant)',
    ]);
    // Named by the policy (inside a written CIDR): followed.
    const local = dest("local", ["127.0.0.0/8"], { ports: [{ lo: 80, hi: 80 }] });
    const both = compiled({ destinations: [local, kms], resolved });
    expect(find(both.entries, "127.0.0.9", 443, "tcp")).toBe(ruleNamed(both, "network.destinations.kms"));
    // The name's address is the more specific: it decides every port there; its neighbours stay local's.
    expect(find(both.entries, "127.0.0.9", 80, "tcp")).toBe(ruleNamed(both, "network.destinations.kms"));
    expect(find(both.entries, "127.0.0.10", 80, "tcp")).toBe(ruleNamed(both, "network.destinations.local"));
  });

  test("an address another destination writes stays that destination's for the ports they share", () => {
    const resolved = new Map([["api.example.com", [cidr("192.0.2.7")]]]);
    const written = dest("db", ["192.0.2.7"], { ports: [{ lo: 5432, hi: 5432 }] });
    const api = dest("api", [], { hosts: [{ name: "api.example.com", origin: at(26) }] });
    const c = compiled({ destinations: [api, written], resolved });
    expect(find(c.entries, "192.0.2.7", 5432, "tcp")).toBe(ruleNamed(c, "network.destinations.db"));
    expect(find(c.entries, "192.0.2.7", 443, "tcp")).toBe(ruleNamed(c, "network.destinations.api"));
    expect(c.warnings).toEqual(['"api.example.com" (api) resolves to 192.0.2.7/32, which network.destinations.db names already for some of the same ports: those stay network.destinations.db\'s']);
  });
});

describe("HostAddresses", () => {
  /** A resolver whose answers and clock the test sets. */
  function fake() {
    const state = { now: 1_000_000, v4: new Map<string, { address: string; ttl: number }[] | Error>(), asked: 0 };
    const lookup = {
      resolve4: async (name: string) => {
        state.asked++;
        const a = state.v4.get(name);
        if (!a) throw Object.assign(new Error("no"), { code: "ENOTFOUND" });
        if (a instanceof Error) throw a;
        return a;
      },
      resolve6: async () => {
        throw Object.assign(new Error("no data"), { code: "ENODATA" });
      },
    };
    return { state, hosts: new HostAddresses(["kms.example.com"], () => lookup, () => state.now) };
  }
  const held = (h: HostAddresses) => h.addresses().get("kms.example.com")!.map((c) => c.canonical);

  test("a new address is added at once, an old one kept for its TTL after it was last seen, then dropped", async () => {
    const { state, hosts } = fake();
    state.v4.set("kms.example.com", [{ address: "192.0.2.1", ttl: 60 }]);
    expect(await hosts.refresh(true)).toEqual({ changed: true, problems: [], recovered: [] });
    expect(held(hosts)).toEqual(["192.0.2.1/32"]);
    // Asked again before the TTL runs out (half of it).
    expect(hosts.nextDueMs()).toBe(30_000);
    state.now += 30_000;
    state.v4.set("kms.example.com", [{ address: "192.0.2.2", ttl: 60 }]);
    expect((await hosts.refresh()).changed).toBe(true);
    expect(held(hosts).sort()).toEqual(["192.0.2.1/32", "192.0.2.2/32"]);
    // The same answer again: nothing to apply.
    state.now += 20_000;
    expect((await hosts.refresh()).changed).toBe(false);
    // 60 s after 192.0.2.1 was last seen, it goes.
    state.now += 10_001;
    expect((await hosts.refresh()).changed).toBe(true);
    expect(held(hosts)).toEqual(["192.0.2.2/32"]);
  });

  test("a short TTL is kept for the floor; a name that cannot be resolved keeps what it had and says so", async () => {
    const { state, hosts } = fake();
    state.v4.set("kms.example.com", [{ address: "192.0.2.1", ttl: 1 }]);
    await hosts.refresh(true);
    state.v4.set("kms.example.com", Object.assign(new Error("timeout"), { code: "ETIMEOUT" }));
    state.now += FLOOR_MS - 1;
    const r = await hosts.refresh(true);
    expect(r.problems).toEqual(['"kms.example.com" cannot be resolved (ETIMEOUT, ENODATA): its addresses seen before are kept until they expire; asking again']);
    expect(held(hosts)).toEqual(["192.0.2.1/32"]);
    // Said once, not at every attempt; said again when it resolves.
    expect((await hosts.refresh(true)).problems).toEqual([]);
    state.now += 2;
    await hosts.refresh(true);
    expect(held(hosts)).toEqual([]);
  });

  test("a reload keeps what is known of the names it shares", async () => {
    const { state, hosts } = fake();
    state.v4.set("kms.example.com", [{ address: "192.0.2.1", ttl: 60 }]);
    await hosts.refresh(true);
    const next = hosts.forNames(["kms.example.com", "other.example.com"]);
    expect([...next.addresses()].map(([n, a]) => [n, a.map((c) => c.canonical)])).toEqual([
      ["kms.example.com", ["192.0.2.1/32"]],
      ["other.example.com", []],
    ]);
  });
});
