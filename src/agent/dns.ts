// The addresses of the policy's host names (network.destinations.*.hosts), as the agent resolves
// them through the host's resolver configuration (/etc/resolv.conf, c-ares in Bun's node:dns).
//
// A name's rule covers every address seen for it: each A and AAAA record is kept for its TTL (at
// least FLOOR_MS) after it was last seen, and the name is asked again before the shortest of those
// runs out, so an address that stays in the answers never lapses. A new address is added at once;
// one that left the answers is dropped only when it expires: the generation that adds one never
// removes the other. A name that cannot be resolved keeps what it had (until that expires), is
// reported, and is asked again.
import { promises as dns } from "node:dns";
import { parseCidr, type Cidr } from "../policy/net.ts";

/** The shortest time an address is kept after it was seen, whatever its TTL. */
export const FLOOR_MS = 30_000;
/** Ask again at most this often, and at least this often. */
const MIN_REFRESH_MS = 5_000;
const MAX_REFRESH_MS = 300_000;

/** What answers A and AAAA questions, with TTLs (node:dns's Resolver, or a test's). */
export interface Lookup {
  resolve4(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
}

export interface Refreshed {
  /** The addresses held changed: a new generation is due. */
  changed: boolean;
  /** One line per name that could not be resolved, said once: when it starts failing. */
  problems: string[];
  /** Names that failed before and resolve now. */
  recovered: string[];
}

export class HostAddresses {
  /** name -> address (canonical text) -> when it expires (ms). */
  private readonly held = new Map<string, Map<string, { cidr: Cidr; expires: number }>>();
  /** When each name is next asked (ms). */
  private readonly due = new Map<string, number>();
  /** Names whose last question failed (reported once, until they resolve). */
  private readonly failing = new Set<string>();

  constructor(
    names: Iterable<string>,
    // A new resolver for every round: one resolver remembers that a name did not exist, and would
    // not see it appear.
    private readonly lookup: () => Lookup = () => new dns.Resolver({ timeout: 2_000, tries: 2 }),
    private readonly now: () => number = Date.now,
  ) {
    for (const name of names) {
      this.held.set(name, new Map());
      this.due.set(name, 0);
    }
  }

  get names(): string[] {
    return [...this.held.keys()];
  }

  /** A new set of names (a reload) that keeps what is known of the names it shares with this one. */
  forNames(names: Iterable<string>): HostAddresses {
    const next = new HostAddresses(names, this.lookup, this.now);
    for (const name of next.names) {
      const mine = this.held.get(name);
      if (!mine) continue;
      next.held.set(name, new Map(mine));
      next.due.set(name, this.due.get(name)!);
      if (this.failing.has(name)) next.failing.add(name);
    }
    return next;
  }

  /** Every name's addresses held now (expired ones dropped). */
  addresses(): Map<string, Cidr[]> {
    const t = this.now();
    const out = new Map<string, Cidr[]>();
    for (const [name, held] of this.held) out.set(name, [...held.values()].filter((a) => a.expires > t).map((a) => a.cidr));
    return out;
  }

  /** Milliseconds until the next name is due (or an address expires); Infinity without names. */
  nextDueMs(): number {
    const t = this.now();
    let next = Infinity;
    for (const d of this.due.values()) next = Math.min(next, d);
    for (const held of this.held.values()) for (const a of held.values()) next = Math.min(next, a.expires);
    return Math.max(0, next - t);
  }

  /** Ask every name that is due (all of them with `all`), drop what expired. */
  async refresh(all = false): Promise<Refreshed> {
    const t = this.now();
    const before = this.signature();
    const problems: string[] = [];
    const recovered: string[] = [];
    const lookup = this.lookup();
    await Promise.all(
      this.names
        .filter((name) => all || this.due.get(name)! <= t)
        .map(async (name) => {
          const held = this.held.get(name)!;
          const answers = await Promise.allSettled([lookup.resolve4(name, { ttl: true }), lookup.resolve6(name, { ttl: true })]);
          const seen = this.now();
          let shortest = MAX_REFRESH_MS;
          let any = false;
          for (const a of answers) {
            if (a.status !== "fulfilled") continue;
            for (const { address, ttl } of a.value) {
              const cidr = parseCidr(address);
              if (!cidr.ok) continue;
              any = true;
              const keep = Math.max(ttl * 1000, FLOOR_MS);
              held.set(cidr.value.canonical, { cidr: cidr.value, expires: seen + keep });
              shortest = Math.min(shortest, Math.max(ttl * 1000, MIN_REFRESH_MS * 2) / 2);
            }
          }
          // Both questions failed (not merely "no AAAA record"): say why, ask again soon.
          const failed = answers.filter((a): a is PromiseRejectedResult => a.status === "rejected");
          if (!any && failed.length === 2) {
            const codes = [...new Set(failed.map((f) => (f.reason as { code?: string }).code ?? String(f.reason)))];
            if (!this.failing.has(name))
              problems.push(`"${name}" cannot be resolved (${codes.join(", ")}): ${held.size ? "its addresses seen before are kept until they expire" : "it covers no address yet"}; asking again`);
            this.failing.add(name);
            shortest = MIN_REFRESH_MS;
          } else if (this.failing.delete(name)) {
            recovered.push(name);
          }
          this.due.set(name, seen + Math.max(MIN_REFRESH_MS, shortest));
        }),
    );
    const after = this.now();
    for (const held of this.held.values()) for (const [k, a] of held) if (a.expires <= after) held.delete(k);
    return { changed: this.signature() !== before, problems, recovered };
  }

  /** The addresses held, as one string, to tell whether they changed. */
  private signature(): string {
    return [...this.held].map(([n, h]) => `${n}=${[...h.keys()].sort().join(",")}`).join(";");
  }
}
