// Stage 3: what the schema cannot say. Names are valid and defined, addresses, ports, digests and
// keys are well formed, paths are absolute, and no two rules contradict each other.
//
// This stage also runs when the schema found errors, so that every problem is reported at once;
// it therefore reads the value defensively and skips any part whose shape is wrong (the schema
// stage has already reported it).
//
// "Conflicting" (docs/policy.md, "Conflicts") means the policy cannot be enforced as written:
//   - the same path protected by two file rules;
//   - the same executable named twice in one allow list, or confined by two rules;
//   - two executables with the same path and digest (one program, two identities);
//   - the same address or host in two destinations with overlapping ports and protocols;
//   - an executable confined to a destination whose "allow" list leaves it out (it could never
//     reach it).
// A monitored rule nested inside an enforced directory is legal but weakens it: a warning.

import { ENV_PATTERN_LEN } from "../abi.ts";
import { diagnostic, quote, quoteAll, quoteList, type Diagnostic, type ValuePath } from "./diagnostic.ts";
import { parsePublicKey } from "./keys.ts";
import { parseCidr, parseHost, parsePort, rangesOverlap, type PortRange } from "./net.ts";
import type { SourceMap } from "./parse.ts";
import { interpreterKind, isSystemDirectory, pathKey, pathProblems, type Problem } from "./paths.ts";
import { closest } from "./suggest.ts";
import { startupCode } from "../jit.ts";
import { firstSeen, seenMap } from "../seen.ts";
import { NAME, NAME_HINT } from "./words.ts";

/** What the checker may learn about the machine it runs on. */
export type PathKind = "file" | "directory" | "other" | "missing";
export interface Host {
  pathKind(path: string): PathKind;
  /** For a file starting with "#!": the interpreter it names. */
  interpreter?(path: string): string | undefined;
}

export { NAME, NAME_HINT };
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

/** A variable (or prefix) the dynamic loader reads, which secure-execution mode makes it ignore. */
function isLoaderVariable(v: string): boolean {
  return v === "GLIBC_TUNABLES" || (v.startsWith("LD_") && v.length > 3);
}
const MISSING_HINT = '"bomfather run" refuses to start while a path the policy names is missing; create it on the target host';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const entries = (v: unknown): [string, unknown][] => (isObj(v) ? Object.entries(v) : []);

export function checkMeaning(value: unknown, map: SourceMap, host: Host | null): Diagnostic[] {
  return new Meaning(map, host).run(value);
}

class Meaning {
  readonly out: Diagnostic[] = [];
  /** Names under "executables", or undefined when that section has the wrong shape. */
  executables: Set<string> | undefined = new Set();
  used = new Set<string>();
  destinations: Map<string, Obj> | undefined = new Map();

  constructor(
    private readonly map: SourceMap,
    private readonly host: Host | null,
  ) {}

  error(path: ValuePath, message: string, hint?: string, at: "key" | "value" = "value"): void {
    this.#add("error", path, message, hint, at);
  }
  warn(path: ValuePath, message: string, hint?: string, at: "key" | "value" = "value"): void {
    this.#add("warning", path, message, hint, at);
  }
  #add(severity: "error" | "warning", path: ValuePath, message: string, hint: string | undefined, at: "key" | "value"): void {
    const span = at === "key" ? this.map.key(path) : this.map.value(path);
    this.out.push(diagnostic(this.map.file, span, severity, message, path, hint));
  }
  problems(path: ValuePath, problems: readonly Problem[]): void {
    for (const p of problems) this.#add(p.severity, path, p.message, p.hint, "value");
  }
  line(path: ValuePath): number {
    return this.map.value(path).line;
  }

  run(policy: unknown): Diagnostic[] {
    if (!isObj(policy)) return this.out;
    const topMode = policy.mode === "monitor" ? "monitor" : "enforce";
    this.checkExecutables(policy.executables);
    this.checkFiles(policy.files, topMode);
    this.checkNetwork(policy.network);
    this.checkRuntime(policy.runtime);
    this.checkAgent(policy.agent);
    this.checkUnused(policy);
    if (!("files" in policy) && !("network" in policy) && !("runtime" in policy) && !("agent" in policy))
      this.warn(["version"], "Policy protects nothing", 'add "files", "network", "runtime" or "agent" rules', "key");
    return this.out;
  }

  // --- executables --------------------------------------------------------------------------

  checkExecutables(section: unknown): void {
    if (section === undefined) return;
    if (!isObj(section)) {
      this.executables = undefined;
      return;
    }
    const identities = new Map<string, string>();
    for (const [name, exe] of Object.entries(section)) {
      this.executables!.add(name);
      const at: ValuePath = ["executables", name];
      if (!NAME.test(name)) this.error(at, `Invalid executable name ${quote(name)}`, NAME_HINT, "key");
      if (!isObj(exe)) continue;
      const path = exe.path;
      if (isStr(path)) {
        const problems = pathProblems(path, "executable");
        this.problems([...at, "path"], problems);
        if (!hasError(problems)) {
          const kind = interpreterKind(path);
          if (kind === "loader")
            this.warn(
              [...at, "path"],
              `Trusting the dynamic loader ${quote(path)} trusts every program it is asked to run`,
              "name the program itself; the agent identifies a program run through the loader by the program's file",
            );
          else if (kind === "interpreter")
            this.warn(
              [...at, "path"],
              `Trusting ${quote(path)} trusts every script it runs`,
              'an interpreter runs any code it is given ("python3 -c ..."); name a compiled program if you can',
            );
          this.checkHostPath([...at, "path"], path, "executable");
          const identity = `${path}\u0000${isStr(exe.digest) ? exe.digest.toLowerCase() : ""}`;
          const first = identities.get(identity);
          if (first !== undefined)
            this.error(
              [...at, "path"],
              `Executables ${quote(first)} and ${quote(name)} name the same program`,
              `both are ${quote(path)}${isStr(exe.digest) ? " with the same digest" : ""} (line ${this.line(["executables", first, "path"])}); keep one name`,
            );
          else identities.set(identity, name);
        }
      }
      if (isStr(exe.digest)) this.checkDigest([...at, "digest"], exe.digest);
    }
  }

  checkDigest(at: ValuePath, digest: string): void {
    const hint = 'write what "bomfather digest FILE" (or "fsverity digest FILE") prints before the file name: "sha256:" and 64 hex digits';
    // `bomfather digest FILE` and `fsverity digest FILE` print "sha256:<hex> FILE": the line pasted whole.
    const pasted = /^(sha256:[0-9a-fA-F]{64})(\s+\S.*)$/.exec(digest);
    if (pasted)
      return this.error(at, `Digest is followed by ${quote(pasted[2]!)}`, `remove ${quote(pasted[2]!)}: "bomfather digest" and "fsverity digest" print the file name after the digest; keep ${quote(pasted[1]!, 80)}`);
    // A bare hex value is usually what sha256sum printed: the hash of the file's bytes, which is
    // not the fs-verity digest (a hash of its Merkle tree) and would never match.
    const bare = /^([0-9a-fA-F]{64})(\s+\S.*)?$/.exec(digest);
    if (bare)
      return this.error(
        at,
        `Digest ${quote(bare[1]!.slice(0, 12) + "…")} is not an fs-verity digest`,
        'a bare hash is what sha256sum prints, the hash of the file\'s bytes, which never matches; run "bomfather digest FILE" (or "fsverity digest FILE") and copy the "sha256:..." it prints',
      );
    const m = /^([A-Za-z0-9-]+):(.*)$/.exec(digest);
    if (!m) return this.error(at, `Invalid digest ${quote(digest)}`, hint);
    const [, algorithm, hex] = m as unknown as [string, string, string];
    if (algorithm.toLowerCase() !== "sha256")
      return this.error(at, `Unsupported digest algorithm ${quote(algorithm)}`, 'fs-verity digests here are "sha256"');
    const bad = /[^0-9a-fA-F]/.exec(hex);
    if (bad) return this.error(at, `Digest contains ${quote(bad[0])}, which is not a hex digit`, hint);
    if (hex.length !== 64) return this.error(at, `Digest has ${hex.length} hex digits, expected 64`, hint);
  }

  /** `what`: a named executable, a file rule's path, or another path the agent guards. */
  checkHostPath(at: ValuePath, path: string, what: "executable" | "file" | "guarded"): void {
    if (!this.host) return;
    let kind: PathKind;
    try {
      kind = this.host.pathKind(path);
    } catch {
      return;
    }
    if (kind === "missing") this.warn(at, `Path ${quote(path)} does not exist on this machine`, MISSING_HINT);
    else if (what === "executable" && kind === "directory")
      this.warn(at, `Path ${quote(path)} is a directory on this machine, not a program`, "name the program's file");
    else if (what === "executable" && kind === "file") {
      const interpreter = this.host.interpreter?.(path);
      if (interpreter !== undefined)
        this.warn(
          at,
          `Path ${quote(path)} is a script run by ${quote(interpreter)} on this machine`,
          `the kernel knows a running script as its interpreter, so "bomfather run" refuses it; name a compiled program, or the interpreter ${quote(interpreter)} (which trusts every script it runs)`,
        );
    } else if (what === "file" && path.endsWith("/") && path !== "/" && kind === "file")
      this.warn(at, `Path ${quote(path)} ends with "/" but is a file on this machine`, 'remove the "/"');
    else if (what === "file" && !path.endsWith("/") && kind === "directory")
      this.warn(at, `Path ${quote(path)} is a directory on this machine: the rule covers everything below it`, `write ${quote(`${path}/`)} to make that plain`);
  }

  /** Whether `name` is an executable the policy defines (or the section cannot tell), noting it used. */
  knows(name: unknown): boolean {
    if (!isStr(name)) return false;
    this.used.add(name);
    return this.executables === undefined || this.executables.has(name);
  }

  /** A reference to an executable by name. */
  ref(at: ValuePath, name: unknown): void {
    if (!isStr(name) || this.knows(name)) return;
    const names = this.executables!;
    const near = closest(name, names);
    const hint = near
      ? `did you mean ${quote(near)}?`
      : names.size > 0
        ? `the executables defined are ${quoteAll([...names].slice(0, 10))}${names.size > 10 ? ", …" : ""}`
        : 'define it under "executables" with its path';
    this.error(at, `Unknown executable ${quote(name)}`, hint);
  }

  refs(at: ValuePath, names: unknown, what: string): void {
    const seen = new Map<string, number>();
    list(names).forEach((name, i) => {
      this.ref([...at, i], name);
      if (!isStr(name)) return;
      const first = seen.get(name);
      if (first !== undefined) this.warn([...at, i], `${what} ${quote(name)} is listed twice`, `remove one (line ${this.line([...at, first])})`);
      else seen.set(name, i);
    });
  }

  checkUnused(policy: Obj): void {
    if (!this.executables) return;
    const runtime = isObj(policy.runtime) ? policy.runtime : {};
    const everyoneProtected =
      (isObj(runtime.environment) && !("protect" in runtime.environment)) || (isObj(runtime.ptrace) && !("protect" in runtime.ptrace));
    if (everyoneProtected) return;
    for (const name of this.executables) {
      if (!this.used.has(name))
        this.warn(["executables", name], `Executable ${quote(name)} is never used`, "grant it access in a rule, or remove it", "key");
    }
  }

  // --- files --------------------------------------------------------------------------------

  checkFiles(section: unknown, topMode: "enforce" | "monitor"): void {
    /** Each rule by path (for overlapping rules; what it grants is read only for those). */
    const byPath = new Map<string, PathRule>();
    const pathRules: PathRule[] = []; // byPath's values, in order: walked without a Map iterator
    // Loops and paths written out rather than forEach and [...at, key]: this runs once per rule
    // of policies with tens of thousands of them, nearly all with one or two grants.
    const rules = list(section);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!isObj(rule)) continue;
      const path = rule.path;
      if (isStr(path)) {
        const problems = pathProblems(path, "file");
        if (problems.length > 0) this.problems(["files", i, "path"], problems);
        if (!hasError(problems)) {
          if (isSystemDirectory(path))
            this.warn(
              ["files", i, "path"],
              `Protecting ${quote(path)} denies it to every program not named here`,
              "the host will likely stop working; protect the files that hold your secrets instead",
            );
          this.checkHostPath(["files", i, "path"], path, "file");
          const key = pathKey(path);
          const first = byPath.get(key);
          if (first !== undefined)
            this.error(
              ["files", i, "path"],
              `Path ${quote(key)} is protected twice`,
              `first on line ${this.line(["files", first.index, "path"])}; merge the two rules into one`,
            );
          else {
            const r = { key, index: i, mode: rule.mode === "monitor" || (rule.mode === undefined && topMode === "monitor") ? "monitor" : "enforce", allow: rule.allow };
            byPath.set(key, r);
            pathRules.push(r);
          }
        }
      }
      const allow = list(rule.allow);
      const firsts = seenMap<string>(allow.length);
      for (let j = 0; j < allow.length; j++) {
        const grant = allow[j];
        if (!isObj(grant)) continue;
        // A name defined under "executables" needs no path built: only a problem does.
        if (!this.knows(grant.executable)) this.ref(["files", i, "allow", j, "executable"], grant.executable);
        if (isStr(grant.executable)) {
          const first = firstSeen(allow, j, grant.executable, executableOf, firsts);
          if (first !== -1)
            this.error(
              ["files", i, "allow", j, "executable"],
              `Executable ${quote(grant.executable)} is named twice in this rule`,
              `first on line ${this.line(["files", i, "allow", first, "executable"])}; list its access once, such as "access: [read, write]"`,
            );
        }
        if (Array.isArray(grant.access)) {
          const access: unknown[] = grant.access; // a short list: no Set needed
          for (let k = 0; k < access.length; k++) {
            const a = access[k];
            if (access.indexOf(a) < k) this.warn(["files", i, "allow", j, "access", k], `Access ${quote(String(a))} is listed twice`, "remove one");
          }
        }
      }
    }

    // A rule inside a directory that another rule protects: the more specific rule decides, so
    // a monitored rule inside an enforced one switches enforcement off there, and an executable the
    // directory's rule grants loses what this rule does not grant it.
    // The nearest rule above a path depends only on its directory: the last directory's answer
    // serves the rules that follow in it (files of one directory tend to come together).
    let lastDir: string | undefined;
    let lastAbove: { parent: string; outer: PathRule } | null = null;
    for (const inner of pathRules) {
      const key = inner.key;
      const dir = parentOf(key);
      if (dir === undefined) continue;
      if (dir !== lastDir) {
        lastDir = dir;
        lastAbove = null;
        for (let parent: string | undefined = dir; parent !== undefined; parent = parentOf(parent)) {
          const outer = byPath.get(parent);
          if (outer) {
            lastAbove = { parent, outer };
            break;
          }
        }
      }
      if (lastAbove) {
        const { parent, outer } = lastAbove;
        if (outer.mode === "enforce" && inner.mode === "monitor")
          this.warn(
            ["files", inner.index, "path"],
            `Path ${quote(key)} is only monitored, inside ${quote(parent)} which is enforced`,
            `the most specific rule decides, so nothing under ${quote(key)} is blocked; the enforced rule is on line ${this.line(["files", outer.index, "path"])}`,
          );
        const lost: string[] = [];
        const innerGrants = grantsOf(inner.allow);
        for (const [exe, access] of grantsOf(outer.allow)) {
          const here = innerGrants.get(exe);
          const missing = [...access].filter((a) => !here?.has(a));
          if (missing.length) lost.push(`${quote(exe)} loses ${missing.join(" and ")}`);
        }
        if (lost.length)
          this.warn(
            ["files", inner.index, "path"],
            `Path ${quote(key)} has its own rule inside ${quote(`${parent}/`)} (line ${this.line(["files", outer.index, "path"])}): there ${lost.join(", ")}`,
            `the most specific rule decides; grant the same here if ${lost.length > 1 ? "they" : "it"} should keep that access`,
          );
      }
    }
  }

  // --- network ------------------------------------------------------------------------------

  checkNetwork(section: unknown): void {
    if (!isObj(section)) return;
    const destinations = section.destinations;
    if (destinations !== undefined && !isObj(destinations)) this.destinations = undefined;
    interface Claim {
      /** "Address" or "Host" and the text as written, made into a message only when one is needed. */
      kind: string;
      raw: string;
      dest: string;
      /** Where it was written: ["network", "destinations", dest, list, index], made when needed. */
      list: "addresses" | "hosts";
      index: number;
      ports: PortRange[];
      protocols: string[];
    }
    const claimAt = (c: { dest: string; list: string; index: number }): ValuePath => ["network", "destinations", c.dest, c.list, c.index];
    const claims = new Map<string, Claim[]>();
    for (const [name, dest] of entries(destinations)) {
      const at: ValuePath = ["network", "destinations", name];
      if (!NAME.test(name)) this.error(at, `Invalid destination name ${quote(name)}`, NAME_HINT, "key");
      if (!isObj(dest)) continue;
      this.destinations?.set(name, dest);
      if (dest.addresses === undefined && dest.hosts === undefined)
        this.error(at, `Destination ${quote(name)} names no address or host`, 'add "addresses", "hosts" or both', "key");

      const ports: PortRange[] = [];
      list(dest.ports).forEach((p, i) => {
        if ((typeof p !== "number" || !Number.isInteger(p)) && !isStr(p)) return; // the schema reports it
        const r = parsePort(p);
        if (!r.ok) return this.error([...at, "ports", i], r.message, r.hint);
        const overlap = ports.find((q) => rangesOverlap(q, r.value));
        if (overlap) this.warn([...at, "ports", i], `Port ${quote(String(p))} overlaps another port of this destination`, "remove the overlap");
        ports.push(r.value);
      });
      const protocols = isStr(dest.protocol) ? [dest.protocol] : ["tcp", "udp"];
      // One call per address of policies that list tens of thousands: paths and messages are made
      // only for a problem.
      const claim = (kind: string, raw: string, key: string, list: "addresses" | "hosts", index: number): void => {
        const others = claims.get(key);
        if (others) {
          const where = claimAt({ dest: name, list, index });
          const what = `${kind} ${quote(raw)}`;
          for (const o of others) {
            if (o.dest === name) {
              this.warn(where, `${what} is listed twice in ${quote(name)}`, `remove one (line ${this.line(claimAt(o))})`);
              return;
            }
            const portsClash =
              o.ports.length === 0 || ports.length === 0 || o.ports.some((a) => ports.some((b) => rangesOverlap(a, b)));
            const protocolsClash = o.protocols.some((p) => protocols.includes(p));
            if (portsClash && protocolsClash) {
              this.error(
                where,
                `${what} is in both ${quote(o.dest)} and ${quote(name)}`,
                `${quote(o.dest)} names it on line ${this.line(claimAt(o))}; a connection must match one destination, so merge them or give them different ports`,
              );
              return;
            }
          }
        }
        const claim: Claim = { kind, raw, dest: name, list, index, ports, protocols };
        if (others) others.push(claim);
        else claims.set(key, [claim]);
      };
      const addresses = list(dest.addresses);
      for (let i = 0; i < addresses.length; i++) {
        const a = addresses[i];
        if (!isStr(a)) continue;
        const r = parseCidr(a);
        if (!r.ok) {
          this.error([...at, "addresses", i], r.message, r.hint);
          continue;
        }
        if (r.value.prefix === 0)
          this.warn([...at, "addresses", i], `Address ${quote(a)} covers every IPv${r.value.family} address`, "name the networks you mean");
        claim("Address", a, `addr ${r.value.canonical}`, "addresses", i);
      }
      list(dest.hosts).forEach((h, i) => {
        if (!isStr(h)) return;
        const r = parseHost(h);
        if (!r.ok) return this.error([...at, "hosts", i], r.message, r.hint);
        claim("Host", h, `host ${r.value}`, "hosts", i);
      });
      this.refs([...at, "allow"], dest.allow, "Executable");
    }

    const confined = new Map<string, number>();
    list(section.confine).forEach((rule, i) => {
      if (!isObj(rule)) return;
      const at: ValuePath = ["network", "confine", i];
      this.ref([...at, "executable"], rule.executable);
      const exe = rule.executable;
      if (isStr(exe)) {
        const first = confined.get(exe);
        if (first !== undefined)
          this.error(
            [...at, "executable"],
            `Executable ${quote(exe)} is confined twice`,
            `first on line ${this.line(["network", "confine", first, "executable"])}; list all its destinations in one "to"`,
          );
        else confined.set(exe, i);
      }
      const seen = new Map<string, number>();
      list(rule.to).forEach((d, j) => {
        if (!isStr(d)) return;
        const dat: ValuePath = [...at, "to", j];
        const first = seen.get(d);
        if (first !== undefined) this.warn(dat, `Destination ${quote(d)} is listed twice`, `remove one (line ${this.line([...at, "to", first])})`);
        seen.set(d, j);
        if (!this.destinations) return;
        const dest = this.destinations.get(d);
        if (!dest) {
          const near = closest(d, this.destinations.keys());
          this.error(
            dat,
            `Unknown destination ${quote(d)}`,
            near ? `did you mean ${quote(near)}?` : 'define it under "network.destinations"',
          );
          return;
        }
        if (isStr(exe) && Array.isArray(dest.allow) && dest.allow.every(isStr) && !dest.allow.includes(exe))
          this.error(
            dat,
            `Executable ${quote(exe)} is confined to ${quote(d)}, which only ${quoteList(dest.allow as string[], "and")} may reach`,
            `add ${quote(exe)} to the "allow" of ${quote(d)} (line ${this.line(["network", "destinations", d, "allow"])}), or remove ${quote(d)} from "to"`,
          );
      });
    });

    if (section.default === "deny" && this.destinations !== undefined && this.destinations.size === 0)
      this.warn(
        ["network", "default"],
        "Every outbound connection is refused",
        '"default: deny" refuses every destination not named, loopback included; add the destinations your programs need',
      );
    else if (section.default !== "deny" && destinations === undefined && section.confine === undefined)
      this.warn(["network"], "The network section restricts nothing", 'add "destinations", "confine" or "default: deny"', "key");
  }

  // --- runtime ------------------------------------------------------------------------------

  checkRuntime(section: unknown): void {
    if (!isObj(section)) return;
    const nobody = this.executables !== undefined && this.executables.size === 0;
    const env = section.environment;
    if (isObj(env)) {
      const seen = new Map<string, number>();
      list(env.variables).forEach((v, i) => {
        if (!isStr(v)) return;
        const at: ValuePath = ["runtime", "environment", "variables", i];
        if (v === "*" || !VARIABLE.test(v))
          return this.error(
            at,
            `Invalid variable name ${quote(v)}`,
            v === "*" ? "this would match every variable; name the dangerous ones, such as \"LD_*\"" : 'write a name such as "LD_PRELOAD", or a prefix ending in "*" such as "LD_*"',
          );
        if (v.length > ENV_PATTERN_LEN - 2)
          return this.error(at, `Variable name ${quote(v)} is longer than ${ENV_PATTERN_LEN - 2} characters`, 'name a shorter prefix ending in "*"');
        const first = seen.get(v);
        if (first !== undefined) this.warn(at, `Variable ${quote(v)} is listed twice`, `remove one (line ${this.line(["runtime", "environment", "variables", first])})`);
        seen.set(v, i);
        // Secure-execution mode makes the loader ignore its own variables, and only those.
        if (env.action === "neutralise" && !isLoaderVariable(v))
          this.error(
            at,
            `"neutralise" cannot neutralise ${quote(v)}: it makes the dynamic loader ignore its own variables (LD_*, GLIBC_TUNABLES), not those other programs read`,
            'use "action: deny" (a protected program started with it is killed before it runs), or list loader variables only',
          );
      });
      this.refs(["runtime", "environment", "protect"], env.protect, "Executable");
      if (!("protect" in env) && nobody)
        this.warn(["runtime", "environment"], "No executable is protected from environment injection", 'define executables, or name them in "protect"', "key");
    }
    const ptrace = section.ptrace;
    if (isObj(ptrace)) {
      this.refs(["runtime", "ptrace", "protect"], ptrace.protect, "Executable");
      this.refs(["runtime", "ptrace", "tracers"], ptrace.tracers, "Executable");
      if (!("protect" in ptrace) && nobody)
        this.warn(["runtime", "ptrace"], "No executable is protected from tracing", 'define executables, or name them in "protect"', "key");
    }
    const fileless = section.fileless;
    if (isObj(fileless)) this.refs(["runtime", "fileless", "allow"], fileless.allow, "Executable");
  }

  // --- agent --------------------------------------------------------------------------------

  checkAgent(section: unknown): void {
    if (!isObj(section)) return;
    const names = new Map<string, number>();
    const material = new Map<string, number>();
    list(section.keys).forEach((k, i) => {
      if (!isObj(k)) return;
      const at: ValuePath = ["agent", "keys", i];
      if (isStr(k.name)) {
        if (!NAME.test(k.name)) this.error([...at, "name"], `Invalid key name ${quote(k.name)}`, NAME_HINT);
        const first = names.get(k.name);
        if (first !== undefined)
          this.error([...at, "name"], `Key name ${quote(k.name)} is used twice`, `first on line ${this.line(["agent", "keys", first, "name"])}; give each key its own name`);
        else names.set(k.name, i);
      }
      if (isStr(k.key)) {
        const r = parsePublicKey(k.key);
        if (!r.ok) this.error([...at, "key"], r.message, r.hint);
        else {
          const id = Buffer.from(r.value).toString("hex");
          const first = material.get(id);
          if (first !== undefined)
            this.error([...at, "key"], "This public key is listed twice", `first on line ${this.line(["agent", "keys", first, "key"])}; give each key one entry and list its operations in "allow"`);
          else material.set(id, i);
        }
      }
      const seen = new Set<unknown>();
      list(k.allow).forEach((op, j) => {
        if (seen.has(op)) this.warn([...at, "allow", j], `Operation ${quote(String(op))} is listed twice`, "remove one");
        seen.add(op);
      });
    });
    const protection = section.protection;
    if (isObj(protection)) {
      list(protection.files).forEach((p, i) => {
        if (!isStr(p)) return;
        const at: ValuePath = ["agent", "protection", "files", i];
        const problems = pathProblems(p, "file");
        this.problems(at, problems);
        if (!hasError(problems)) this.checkHostPath(at, p, "guarded");
      });
    }
    const events = section.events;
    if (isObj(events)) {
      const output = events.output;
      if (isStr(output) && output !== "stdout" && output !== "stderr") {
        if (!output.startsWith("/")) {
          const near = closest(output, ["stdout", "stderr"]);
          this.error(["agent", "events", "output"], `Unknown event output ${quote(output)}`, `${near ? `did you mean ${quote(near)}? ` : ""}write "stdout", "stderr" or an absolute file path`);
        }
        else this.problems(["agent", "events", "output"], pathProblems(output, "output"));
      }
      const seen = new Set<unknown>();
      list(events.include).forEach((kind, j) => {
        if (seen.has(kind)) this.warn(["agent", "events", "include", j], `Event kind ${quote(String(kind))} is listed twice`, "remove one");
        seen.add(kind);
      });
    }
  }
}

/** Whether any of a path's problems is an error. */
function hasError(problems: readonly Problem[]): boolean {
  for (const p of problems) if (p.severity === "error") return true;
  return false;
}

/** The executable a grant names, as written. */
function executableOf(grant: unknown): unknown {
  return isObj(grant) ? grant.executable : undefined;
}

/** The access each executable a rule's allow names gets ("read", "write"), as written. */
function grantsOf(allow: unknown): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const grant of list(allow)) {
    if (!isObj(grant) || !isStr(grant.executable)) continue;
    const access = Array.isArray(grant.access) ? grant.access : [grant.access];
    const set = out.get(grant.executable) ?? new Set<string>();
    for (const a of access) if (a === "read" || a === "write") set.add(a);
    out.set(grant.executable, set);
  }
  return out;
}

/** A file rule by its path (checkFiles). */
interface PathRule {
  key: string;
  index: number;
  mode: string;
  allow: unknown;
}

function parentOf(path: string): string | undefined {
  if (path === "/") return undefined;
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

startupCode(Meaning.prototype, hasError, executableOf, grantsOf, parentOf, isObj, isStr, list);
