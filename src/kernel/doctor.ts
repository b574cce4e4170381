// Can this host enforce? Each check says what it found and, when something is missing, one
// hint on how to fix it. `run` performs the same checks first and refuses to start when a
// required one fails.
import { kernelHasVerity } from "./verity.ts";
import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { mount } from "../../ffi/libc.ts";
import { NativeError } from "../../ffi/shim.ts";
import { agentObject, loadShim } from "./assets.ts";
import { selectPrograms } from "./kernel.ts";
import { Probe } from "./probe.ts";

export interface Check {
  id: string;
  title: string;
  status: "ok" | "fail" | "warn";
  detail: string;
  hint?: string;
  /** run refuses to start when a required check fails */
  required: boolean;
}

const SECURITYFS = "/sys/kernel/security";

function mounts(): { target: string; type: string }[] {
  try {
    return readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [, target = "", type = ""] = l.split(" ");
        return { target, type };
      });
  } catch {
    return [];
  }
}

function isMounted(target: string, type: string): boolean {
  return mounts().some((m) => m.target === target && m.type === type);
}

export function kernelVersion(rel = release()): [number, number] {
  const m = rel.match(/^(\d+)\.(\d+)/);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * The capabilities the agent needs (numbers from linux/capability.h). Loading BPF LSM programs
 * and their maps takes CAP_BPF and CAP_PERFMON (the kernel checks both for LSM programs);
 * CAP_MAC_ADMIN is the capability for changing the host's mandatory access control, which is
 * what the agent does; CAP_DAC_READ_SEARCH lets it find and open every file the policy names,
 * whoever owns it, to learn its inode. Root has them all.
 */
export const CAPABILITIES = { CAP_DAC_READ_SEARCH: 2, CAP_MAC_ADMIN: 33, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
/** Needed only to mount securityfs when it is not mounted, to read the active LSM list. */
const CAP_SYS_ADMIN = 21;

/** The effective capability set of this process (CapEff in /proc/self/status), or null. */
export function effectiveCapabilities(status?: string): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? readFileSync("/proc/self/status", "utf8"));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

/** The names of the needed capabilities missing from `effective`. */
export function missingCapabilities(effective: bigint): string[] {
  return Object.entries(CAPABILITIES)
    .filter(([, bit]) => ((effective >> BigInt(bit)) & 1n) === 0n)
    .map(([name]) => name);
}

function capabilityCheck(): { check: Check; ok: boolean; sysAdmin: boolean } {
  const effective = effectiveCapabilities();
  const uid = process.getuid?.();
  const title = "Capabilities to load and attach BPF LSM programs";
  if (effective === null)
    return {
      ok: false,
      sysAdmin: false,
      check: { id: "capabilities", title, status: "fail", detail: "cannot read CapEff from /proc/self/status", hint: "run bomfather where /proc is mounted", required: true },
    };
  const missing = missingCapabilities(effective);
  const names = Object.keys(CAPABILITIES);
  const check: Check =
    missing.length === 0
      ? { id: "capabilities", title, status: "ok", detail: `${names.join(", ")} (uid ${uid})`, required: true }
      : {
          id: "capabilities",
          title,
          status: "fail",
          detail: `missing ${missing.join(", ")} (uid ${uid})`,
          hint:
            `run bomfather as root (sudo bomfather ...), or give it ${names.join(", ")}: ` +
            `AmbientCapabilities=${names.join(" ")} in its systemd unit, or setcap ${names.map((n) => n.toLowerCase()).join(",")}+ep on the binary`,
          required: true,
        };
  return { check, ok: missing.length === 0, sysAdmin: ((effective >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n };
}

/** The active LSMs, mounting securityfs if needed. Null when they cannot be read. */
function lsmList(): string[] | null {
  const file = `${SECURITYFS}/lsm`;
  if (!existsSync(file) && !isMounted(SECURITYFS, "securityfs")) mount("securityfs", SECURITYFS, "securityfs");
  try {
    return readFileSync(file, "utf8").trim().split(",").filter(Boolean);
  } catch {
    return null;
  }
}

function lockdown(): string | null {
  try {
    const m = readFileSync(`${SECURITYFS}/lockdown`, "utf8").match(/\[(\w+)\]/);
    return m?.[1] ?? null;
  } catch {
    return null;
  }
}

export function lsmHint(current: string[] | null): string {
  const list = [...(current ?? ["lockdown", "capability", "landlock", "yama", "apparmor"]).filter((l) => l !== "bpf"), "bpf"].join(",");
  return [
    `add bpf to the lsm= kernel parameter, keeping the ones already active: lsm=${list}`,
    `  Debian/Ubuntu: append it to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot`,
    `  RHEL/Fedora/Rocky: grubby --update-kernel=ALL --args="lsm=${list}", reboot`,
  ].join("\n");
}

/**
 * Attach the probe program to lsm/file_open, open a file, and read back whether the hook ran
 * for this process. Returns null on success, or what went wrong.
 */
async function probeBpfLsm(): Promise<{ detail: string; errno?: number } | null> {
  let probe: Probe;
  try {
    probe = await Probe.attach();
  } catch (e) {
    if (e instanceof NativeError) {
      return { detail: withLibbpfLog(e, 3), errno: e.errno };
    }
    throw e;
  }
  try {
    const before = probe.hits();
    readFileSync("/proc/self/stat");
    if (probe.hits() === before) return { detail: "a test LSM program attached but never ran: the bpf LSM is not active" };
    return null;
  } finally {
    probe.close();
  }
}

/** A failure's message with the last lines libbpf printed (where the verifier says why), on one line. */
function withLibbpfLog(e: NativeError, lines: number): string {
  const log = e.log.trim().split("\n").slice(-lines).map((l) => l.replace(/^libbpf: /, "")).join(" | ");
  return `${e.message}${log ? ` [libbpf: ${log}]` : ""}`;
}

/** Load (not attach) the agent's own programs: does this kernel's verifier accept them? */
async function agentLoadCheck(): Promise<Check> {
  const title = "The agent's programs pass this kernel's verifier";
  const shim = await loadShim();
  const obj = shim.openObject(await agentObject(), "bomfather");
  try {
    const programs = selectPrograms(obj);
    obj.load();
    return { id: "agent-load", title, status: "ok", detail: `${programs.length} programs loaded`, required: true };
  } catch (e) {
    if (!(e instanceof NativeError)) throw e;
    return {
      id: "agent-load",
      title,
      status: "fail",
      detail: withLibbpfLog(e, 4),
      hint: "this kernel rejects one of bomfather's programs; please report it with the output of bomfather doctor --json",
      required: true,
    };
  } finally {
    obj.close();
  }
}

/**
 * Every check, in order. agentLoad: also load the agent's own programs (doctor does; run
 * skips it, since loading them is its next step and reports the same failure).
 */
export async function runChecks(options: { agentLoad?: boolean } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const rel = release();
  const [major, minor] = kernelVersion(rel);
  const recent = major > 6 || (major === 6 && minor >= 1);
  checks.push({
    id: "kernel",
    title: "Kernel version",
    status: recent ? "ok" : "fail",
    detail: `Linux ${rel}`,
    hint: recent ? undefined : "bomfather needs Linux 6.1 or newer (Debian 12, Ubuntu 24.04, RHEL 9.3+)",
    required: true,
  });

  const capabilities = capabilityCheck();
  checks.push(capabilities.check);

  const btf = existsSync("/sys/kernel/btf/vmlinux");
  checks.push({
    id: "btf",
    title: "Kernel BTF",
    status: btf ? "ok" : "fail",
    detail: btf ? "/sys/kernel/btf/vmlinux" : "/sys/kernel/btf/vmlinux is missing",
    hint: btf ? undefined : "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every major distribution kernel since 2021 is)",
    required: true,
  });

  const lsms = lsmList();
  const listed = lsms?.includes("bpf") ?? false;
  const unreadable = !capabilities.sysAdmin
    ? `cannot read ${SECURITYFS}/lsm: securityfs is not mounted, and mounting it needs CAP_SYS_ADMIN`
    : `cannot read ${SECURITYFS}/lsm (securityfs not mounted?)`;
  checks.push({
    id: "lsm-list",
    title: "bpf in the active LSM list",
    status: listed ? "ok" : "fail",
    detail: lsms ? `lsm=${lsms.join(",")}` : unreadable,
    hint: listed ? undefined : lsms ? lsmHint(lsms) : `mount -t securityfs securityfs ${SECURITYFS} (systemd does this at boot), then:\n${lsmHint(null)}`,
    required: true,
  });

  const probe: { detail: string; errno?: number } | null = !capabilities.ok
    ? { detail: "not tried: the capabilities above are missing" }
    : !btf
      ? { detail: "not tried: the kernel has no BTF" }
      : await probeBpfLsm();
  let probeHint: string | undefined;
  if (probe) {
    const ld = lockdown();
    if (!capabilities.ok) probeHint = "see the capability check above";
    else if (!btf) probeHint = "see the BTF check above";
    else if (!listed) probeHint = "see the lsm list check above";
    else if (probe.errno === 1 /* EPERM */)
      probeHint =
        `the kernel lists bpf but refused to load or attach an LSM program (EPERM)` +
        (ld === "confidentiality" ? `; kernel lockdown is "confidentiality", which forbids it: boot with lockdown=integrity` : "") +
        `; BPF trampolines may be blocked (some sandboxed or nested-virtualisation kernels do this); ` +
        `run on a host whose kernel allows BPF LSM programs`;
    else probeHint = probe.detail.includes("[libbpf:") ? "check dmesg and the libbpf message above" : "check dmesg";
  }
  checks.push({
    id: "bpf-lsm",
    title: "BPF LSM programs load, attach and run",
    status: probe ? "fail" : "ok",
    detail: probe ? probe.detail : "a test program on lsm/file_open ran for this process",
    hint: probeHint,
    required: true,
  });
  if (!probe && (options.agentLoad ?? true)) checks.push(await agentLoadCheck());

  checks.push(
    mountCheck("bpffs", "bpffs at /sys/fs/bpf", "/sys/fs/bpf", "bpf", "mount -t bpf bpf /sys/fs/bpf (systemd does this at boot)"),
    mountCheck(
      "cgroup2",
      "cgroup v2 at /sys/fs/cgroup",
      "/sys/fs/cgroup",
      "cgroup2",
      "boot with systemd.unified_cgroup_hierarchy=1, or mount -t cgroup2 none /sys/fs/cgroup",
    ),
  );

  const verityFs = kernelHasVerity();
  const verityKfunc = major > 6 || (major === 6 && minor >= 8);
  checks.push({
    id: "fsverity",
    title: "fs-verity (executable digests)",
    status: verityFs ? "ok" : "warn",
    detail: verityFs
      ? `available; digests are measured at start and reload${verityKfunc ? " and checked by the kernel at every exec" : " (the kernel checks them at exec from Linux 6.8)"}`
      : "this kernel has no fs-verity",
    hint: verityFs ? undefined : "policies that pin executables by digest need a kernel with CONFIG_FS_VERITY=y",
    required: false,
  });
  return checks;
}

/** A filesystem this version does not need yet but later protections will: a warning when missing. */
function mountCheck(id: string, title: string, target: string, type: string, hint: string): Check {
  const mounted = isMounted(target, type);
  return { id, title, status: mounted ? "ok" : "warn", detail: mounted ? "mounted" : "not mounted", hint: mounted ? undefined : hint, required: false };
}

export function canEnforce(checks: Check[]): boolean {
  return checks.every((c) => !c.required || c.status === "ok");
}

export function formatChecks(checks: Check[]): string {
  const mark = { ok: "ok  ", fail: "FAIL", warn: "warn" } as const;
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`[${mark[c.status]}] ${c.title}: ${c.detail}`);
    if (c.hint) for (const h of c.hint.split("\n")) lines.push(`       hint: ${h}`);
  }
  lines.push(
    canEnforce(checks)
      ? "This host can enforce bomfather policies."
      : "This host cannot enforce bomfather policies: bomfather will refuse to start here.",
  );
  return lines.join("\n");
}
