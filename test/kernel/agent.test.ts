// The compiled agent (dist/bomfather) inside a VM, on Debian's 6.1 and 6.12 kernels: the
// first slice of file boundaries, doctor, and the refusal to start without the BPF LSM.
import { join } from "node:path";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { kernelSuite } from "./harness.ts";
import { FSVERITY_PATH, MKFS_EXT4_PATH } from "./host-tools.ts";
import { keyedPolicies, makeTestKey, TEST_KEY_GUEST } from "./keys.ts";
import { digestFile } from "../../src/digest.ts";

const root = join(import.meta.dir, "..", "..");
const agent = join(root, "dist", "bomfather");
if (!existsSync(agent)) throw new Error(`${agent} is missing: run ./dev build first (./dev test does)`);

const scenario = (name: string) => join(import.meta.dir, "scenarios", `${name}.sh`);

// A small C program that opens files the ways an attacker would (O_PATH reopen, file handles).
const tools = mkdtempSync(join(tmpdir(), "bomfather-tools-"));
const reach = join(tools, "reach");
const strike = join(tools, "strike");
const evil = join(tools, "evil.so"); // scenarios/runtime.sh: the attacker's LD_PRELOAD/LD_AUDIT library
const egress = join(tools, "egress"); // scenarios/net.sh: every way out of the host
for (const [bin, src, extra] of [[reach, "reach.c", []], [strike, "strike.c", ["-no-pie"]], [evil, "evil.c", ["-shared", "-fPIC"]], [egress, "egress.c", []]] as const) {
  // strike is not position independent: its vmread reads the same address in another copy of itself.
  const cc = Bun.spawnSync(["gcc", "-O2", "-Wall", ...extra, "-o", bin, join(import.meta.dir, "tools", src)], { stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`Cannot build test/kernel/tools/${src}: ${cc.stderr.toString()}`);
}
// Every policy lists the scenarios' key: the agent stops only for a shutdown signed by it.
const key = await makeTestKey(tools);
const policies = keyedPolicies(tools, key, [
  { host: join(root, "policies", "demo.yaml"), guest: "/policies/demo.yaml" },
  { host: join(root, "policies", "self-protection.yaml"), guest: "/policies/self-protection.yaml" },
  { host: join(root, "policies", "ptrace-defense.yaml"), guest: "/policies/ptrace-defense.yaml" },
  { host: join(root, "policies", "ip-protection.yaml"), guest: "/policies/ip-protection.yaml" },
  { host: join(root, "policies", "policy-inheritance.yaml"), guest: "/policies/policy-inheritance.yaml" },
  ...["inheritance", "monitor", "half-valid", "writes", "protection-monitor", "exec-identity", "runtime", "runtime-section", "runtime-env", "runtime-monitor", "net", "net-deny", "net-monitor", "net-dns"].map((p) => ({
    host: join(import.meta.dir, "policies", `${p}.yaml`),
    guest: `/policies/${p}.yaml`,
  })),
]);
// scenarios/digest.sh: policies pinning a copy of cat(1) by its fs-verity digest.
const catDigest = digestFile("/bin/cat");
const digestPolicy = (path: string) => `version: 1
executables:
  signer:
    path: ${path}
    digest: ${catDigest}
  updater:
    path: /usr/local/bin/updater
files:
  - path: /srv/digest/secret.txt
    allow:
      - executable: signer
        access: read
  - path: ${path}
    allow:
      - executable: updater
        access: write
`;
const digestPolicies = keyedPolicies(
  tools,
  key,
  [
    ["digest.yaml", digestPolicy("/mnt/verity/signer")],
    ["digest-tmpfs.yaml", digestPolicy("/tmp/signer-on-tmpfs")],
  ].map(([name, text]) => {
    const host = join(tools, name!);
    writeFileSync(host, text!);
    return { host, guest: `/policies/${name}` };
  }),
);
// The signed-request scenario: a second listed key (reload only), one not listed, and its policies.
const reloader = await makeTestKey(mkdtempSync(join(tools, "reloader-")));
const stranger = await makeTestKey(mkdtempSync(join(tools, "stranger-")));
const controlPolicy = (extra: string) => `version: 1
executables:
  trusted-reader:
    path: /usr/local/bin/trusted-reader
${extra}files:
  - path: /srv/demo/secret.txt
    allow:
      - executable: trusted-reader
        access: read
agent:
  keys:
    - name: test
      key: ${key.publicKey}
      allow: [shutdown, reload]
    - name: reloader
      key: ${reloader.publicKey}
      allow: [reload]
  events:
    output: /var/log/bomfather/events.jsonl
    include: [deny, monitor, allow]
`;
const control = [
  ["control.yaml", controlPolicy("")],
  ["control-next.yaml", controlPolicy("").replace("files:\n", "files:\n  - path: /srv/demo/other.txt\n    allow: [{ executable: trusted-reader, access: read }]\n")],
  ["control-bad.yaml", controlPolicy("  ghost:\n    path: /usr/local/bin/not-installed\n")],
].map(([name, text]) => {
  const host = join(tools, name!);
  writeFileSync(host, text!);
  return { host, guest: `/policies/${name}` };
});

const files = [
  { host: agent, guest: "/usr/local/sbin/bomfather" },
  ...policies,
  ...control,
  ...digestPolicies.filter((f) => f.guest !== TEST_KEY_GUEST), // the key is in the list once
  { host: reloader.privateKey, guest: "/opt/keys/reloader.pem", mode: 0o600 },
  { host: stranger.privateKey, guest: "/opt/keys/stranger.pem", mode: 0o600 },
  // A real glibc ELF, distinct from busybox, as the trusted executable the demo policy names.
  { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/launcher" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/launcher-no-inherit" },
  { host: reach, guest: "/opt/tools/reach" },
  // scenarios/net.sh: the attacker's copy of egress, the signer's, and confined launchers (env).
  { host: egress, guest: "/opt/tools/egress" },
  { host: egress, guest: "/usr/local/bin/net-signer" },
  { host: egress, guest: "/usr/local/bin/net-dns-server" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/net-launcher" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/net-launcher-ni" },
  { host: "/bin/cat", guest: "/usr/local/bin/restic" },
  { host: strike, guest: "/opt/tools/strike" },
  { host: evil, guest: "/opt/tools/evil.so" },
  { host: strike, guest: "/usr/local/bin/debugger" }, // scenarios/runtime.sh: the tracer its policy names
  { host: reach, guest: "/usr/local/bin/runner" }, // and the program allowed fileless execution
  // scenarios/examples.sh: what policies/ptrace-defense.yaml names.
  { host: "/bin/cat", guest: "/usr/local/bin/vault-agent" },
  { host: egress, guest: "/opt/shop/bin/api-server" }, // and web in policies/ip-protection.yaml
  { host: egress, guest: "/usr/lib/systemd/systemd-resolved" },
  { host: "/usr/bin/env", guest: "/opt/ml/bin/train-launcher" }, // policies/policy-inheritance.yaml
  { host: "/usr/bin/env", guest: "/opt/ml/bin/export-model" },
  { host: strike, guest: "/usr/bin/gdb" },
  { host: "/usr/sbin/bpftool", guest: "/usr/sbin/bpftool" },
  { host: reach, guest: "/usr/local/bin/fd-holder" },
  { host: "/bin/busybox", guest: "/opt/trusted/busybox" },
  // fs-verity in the guest (lib.sh make_verity_fs): e2fsprogs' mkfs.ext4 (busybox's mke2fs has no
  // verity feature), and fsverity to enable and measure.
  { host: MKFS_EXT4_PATH, guest: "/usr/sbin/mkfs.ext4" },
  { host: FSVERITY_PATH, guest: "/usr/bin/fsverity" },
  // scenarios/exec-identity.sh: a named "#!" interpreter (busybox runs as sh), a program and its updater.
  { host: "/bin/busybox", guest: "/opt/named/sh" },
  { host: "/bin/cat", guest: "/usr/local/bin/tool" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/updater" },
  // scenarios/digest.sh: the content its policies pin (cat), and another (env).
  { host: "/bin/cat", guest: "/opt/digest/signer-src" },
  { host: "/usr/bin/env", guest: "/opt/digest/other-src" },
];

/** Every check scenarios/self-protection.sh reports (memory.max and pids.max only where the controllers exist). */
const SELF_PROTECTION_CHECKS = [
  "agent-starts",
  ...["KILL", "TERM", "STOP", "INT", "HUP", "QUIT", "USR1"].map((s) => `kill-${s}-refused`),
  "kill-0-allowed",
  "kill-other-process-works",
  "tgkill-every-thread-refused",
  "pidfd-send-signal-refused",
  "process-group-refused",
  "sigio-refused",
  "prlimit-refused",
  "prlimit-other-process-works",
  "ptrace-attach-refused",
  "ptrace-seize-refused",
  "process-vm-readv-refused",
  "pidfd-getfd-refused",
  "proc-mem-refused",
  "ptrace-other-process-works",
  "process-vm-readv-other-process-works",
  "bpf-map-by-pin-refused",
  "bpf-other-map-works",
  "bpf-maps-by-id-refused",
  "bpf-other-maps-by-id-open",
  "bpf-programs-by-id-refused",
  "bpf-links-by-id-refused",
  "unpin-map-refused",
  "unpin-link-refused",
  "rename-pin-refused",
  "pin-into-dir-refused",
  "umount-bpffs-refused",
  "lazy-umount-bpffs-refused",
  "mount-over-pins-refused",
  "other-pin-removable",
  "chmod-binary-refused",
  "touch-binary-refused",
  "remove-binary-refused",
  "rename-over-binary-refused",
  "write-policy-refused",
  "remove-policy-refused",
  "remove-socket-refused",
  "remove-state-refused",
  "create-in-state-dir-refused",
  "mount-over-state-refused",
  "read-policy-works",
  "read-binary-works",
  "other-file-writable",
  "agent-moved",
  "cgroup-freeze-refused",
  "cgroup-freeze-early-fd-refused",
  "cgroup-kill-refused",
  "cgroup-freeze-other-works",
  "alive-in-trap",
  "oom-score-adj",
  "oom-score-adj-write-refused",
  "oom-score-adj-other-works",
  "sysrq-refused",
  "preloaded-binary-untrusted",
  "traced-binary-runs",
  ...["signals", "tracing", "bpf", "files", "cgroups", "unsafe-execs"].map((s) => `still-enforcing-${s}`),
  "event-signal",
  "event-signal-detail",
  "event-ptrace",
  "event-bpf",
  "event-cgroup",
  "event-unsafe-exec",
  "event-names-target",
  "event-file",
  "alive-at-the-end",
  "signed-shutdown-stops-it",
  "readable-after-shutdown",
  "pins-removed-on-shutdown",
].map((c) => `self-${c}`);

/** Every check scenarios/exec-identity.sh reports. */
const EXEC_IDENTITY_CHECKS = [
  "agent-starts",
  "start-says-immutable",
  "start-names-interp",
  "start-names-updatable",
  "hashbang-named-interp-own-grant",
  "hashbang-named-interp-content",
  "hashbang-named-interp-not-launcher",
  "hashbang-unnamed-interp-inherits",
  "hashbang-unnamed-interp-content",
  "hashbang-unnamed-interp-no-other-grant",
  "hashbang-direct-named-interp",
  "hashbang-direct-unnamed-denied",
  "overwrite-in-place-refused",
  "append-refused",
  "truncate-refused",
  "chmod-refused",
  "setxattr-on-binary-refused",
  "rename-over-refused",
  "remove-refused",
  "link-over-refused",
  "named-still-runs",
  "named-still-runs-output",
  "named-readable",
  "interp-keeps-grant-after-attempts",
  "setxattr-refused",
  "setxattr-by-writer",
  "removexattr-refused",
  "removexattr-by-writer",
  "setacl-refused",
  "setacl-by-writer",
  "chattr-refused",
  "chattr-by-writer",
  "setxattr-reader-only-refused",
  "other-file-xattr-works",
  "tool-reads",
  "tool-overwrite-refused",
  "tool-rename-by-root-refused",
  "tool-updated-by-updater",
  "updated-tool-holds-no-grant",
  "updated-tool-still-guarded",
  "signed-reload",
  "reloaded-tool-reads",
  "reloaded-tool-content",
  "event-identity-named-interp",
  "event-identity-inherited",
  "event-xattr",
  "event-ioctl",
  "event-ioctl-target",
  "event-immutable-rule",
].map((c) => `exec-${c}`);

/** Every check scenarios/digest.sh reports. */
const DIGEST_CHECKS = [
  "fs-made",
  "agent-starts",
  "start-says-how",
  "start-says-kernel",
  "match-reads",
  "match-content",
  "root-denied",
  "copy-elsewhere-denied",
  "rename-by-root-refused",
  "rename-by-updater",
  "renamed-holds-no-grant",
  "signed-reload",
  "reloaded-reads",
  "other-content-refused",
  "other-content-names-actual",
  "other-content-names-pinned",
  "other-content-at-line",
  "no-verity-refused",
  "no-verity-says-why",
  "tmpfs-refused",
  "tmpfs-says-why",
  "nothing-enforced",
].map((c) => `digest-${c}`);

/** Every check scenarios/net.sh reports (its loops written out the same way). */
const NET_CHECKS = [
  ...["before-tcp", "before-udp6", "before-raw", "agent-starts", "early-signer-confined", "early-other-open"],
  ...["connect-tcp", "connect-mptcp", "tfo", "tfo-connect", "uring-connect"].flatMap((w) => [`kms-${w}-refused`, `kms-${w}-signer`]),
  ...["kms-mapped-refused", "kms-mapped-signer", "kms-other-port", "kms-udp-not-kms"],
  ...["sendto", "sendmsg", "sendmmsg", "uring-sendmsg"].flatMap((w) => [`kms6-${w}-refused`, `kms6-${w}-signer`]),
  ...["kms6-connect-refused", "kms6-connect-signer", "kms6-udp-connect-refused", "other-v6-open"],
  ...["signer-dns", "signer-dns-tcp", "signer-local", "signer-unnamed", "signer-unnamed-udp", "signer-unspec-udp", "signer-unspec-dns", "signer-raw", "signer-packet"],
  ...["other-local", "other-unnamed", "other-raw", "other-packet"],
  ...["launcher", "launcher-ni"].flatMap((l) =>
    ["child-local", "child-unnamed", "child-raw", "grandchild-unnamed", "grandchild-v6", "grandchild-v6-local"].map((c) => `${l}-${c}`),
  ),
  ...["launcher-runs-signer", "lab-monitored"],
  ...["event-rule", "event-op", "event-protocol", "event-reason", "event-exe", "event-v6-send", "event-confined", "event-socket", "event-monitor", "event-monitor-rule"],
  ...["agent-stops", "after-open"],
  ...["deny-starts", "deny-named", "deny-named-udp", "deny-unnamed", "deny-unnamed-udp", "deny-unspec-udp", "deny-unspec-named", "deny-v6", "deny-mapped", "deny-mapped-named"],
  ...["deny-raw", "deny-raw6", "deny-packet", "deny-control", "deny-event", "deny-agent-stops"],
  ...["monitor-starts", "monitor-unnamed", "monitor-raw", "monitor-event", "monitor-agent-stops"],
  ...["starts", "unresolvable-warned", "metadata-not-followed", "signer-v4", "signer-v6", "other-v4", "signer-metadata", "signer-not-yet", "server-refused"].map((c) => `dns-${c}`),
  ...["change-applied", "later-applied", "new-followed", "later-followed", "old-kept", "new-reserved", "expiry-applied", "old-gone", "new-stays", "agent-stops"].map((c) => `dns-${c}`),
].map((c) => `net-${c}`);

/** Every check scenarios/runtime.sh reports. */
const RUNTIME_CHECKS = [
  "agent-starts",
  "start-names-protected",
  "start-names-reader",
  "start-skips-ungranted",
  "preload-trusted-runs",
  "preload-trusted-content",
  "preload-not-loaded",
  "audit-trusted-runs",
  "audit-not-loaded",
  "preload-elsewhere-loads",
  "preload-elsewhere-loaded",
  "audit-elsewhere-loads",
  "audit-elsewhere-loaded",
  "preload-deep-runs",
  "preload-deep-not-loaded",
  "preload-deep-elsewhere",
  "preload-deep-elsewhere-loaded",
  "inherited-child-reads",
  "inherited-child-content",
  "inherited-child-not-loaded",
  "traced-exec-refused",
  "traced-exec-no-secret",
  "traced-exec-elsewhere",
  "ptrace-attach-refused",
  "ptrace-seize-refused",
  "vmread-refused",
  "pidfd-getfd-refused",
  "proc-mem-refused",
  "proc-status-readable",
  "ptrace-other-works",
  "vmread-other-works",
  "preload-list-create-refused",
  "preload-list-symlink-refused",
  "preload-list-rename-refused",
  "preload-list-absent",
  "etc-other-entry-works",
  "loader-preload-no-secret",
  "loader-preload-refused",
  "event-preload-list",
  "event-ptrace-rule",
  "event-ptrace-target",
  "event-traced-exec",
  "section-agent-starts",
  "section-ptrace-named-refused",
  "section-ptrace-granted-refused",
  "section-tracer-attaches",
  "section-tracer-seizes",
  "fileless-memfd-refused",
  "fileless-tmpfile-refused",
  "fileless-deleted-refused",
  "fileless-allowed-runner",
  "fileless-named-files-run",
  "event-fileless",
  "event-fileless-rule",
  "env-agent-starts",
  "env-preload-killed",
  "env-preload-no-secret",
  "env-library-path-killed",
  "env-tunables-killed",
  "env-audit-killed",
  "env-node-options-killed",
  "env-deep-killed",
  "env-deep-clean-runs",
  "env-deep-clean-content",
  "env-execveat-killed",
  "env-execveat-clean-runs",
  "env-execveat-clean-content",
  "env-clean-restic-runs",
  "env-unlisted-program-runs",
  "env-unlisted-program-loaded",
  "event-env-variable",
  "event-env-rule",
  "monitor-agent-starts",
  "monitor-env-runs",
  "monitor-fileless-runs",
  "monitor-ptrace-attaches",
  "monitor-env-event",
  "monitor-fileless-event",
  "monitor-ptrace-event",
].map((c) => `rt-${c}`);

/** Every check scenarios/control.sh reports. */
const CONTROL_CHECKS = [
  "agent-starts",
  "other-unprotected",
  "unknown-key-refused",
  "unknown-key-says-why",
  "reload-only-key-cannot-stop",
  "reload-only-key-says-why",
  "malformed-refused",
  "alive-refusals",
  "still-protected-refusals",
  "challenge-printed",
  "challenge-text",
  "signed-offline",
  "shutdown-challenge",
  "other-action-refused",
  "alive-other-action",
  "reload-offline-accepted",
  "reload-says-generation",
  "added-rule-holds-at-once",
  "still-protected-after-reload",
  "replay-refused",
  "replay-says-why",
  "no-gap-during-reload",
  "policy-file-replaced",
  "bad-reload-refused",
  "bad-reload-diagnostics",
  "bad-reload-changed-nothing",
  "still-protected-after-bad-reload",
  "reload-back",
  "removed-rule-stops-at-once",
  "still-protected-after-reload-back",
  "trusted-reader-reads",
  "events-in-file",
  "control-events-in-file",
  "events-after-rotation",
  "allow-events-when-asked",
  "challenge-for-later",
  "shutdown-accepted",
  "shutdown-ends-enforcement-at-once",
  "signed-shutdown-stops",
  "shutdown-event-names-key",
  "agent-starts-again",
  "other-run-refused",
  "other-run-says-why",
  "alive-other-run",
  "stops-again",
].map((c) => `ctl-${c}`);

// BOMFATHER_SCENARIOS=a,b runs only those scenarios (each passes when all its checks pass), for
// work on one of them; the full list of checks is registered otherwise.
const only = process.env.BOMFATHER_SCENARIOS?.split(",");
const pick = <T>(all: T[], name: (t: T) => string) => (only ? all.filter((t) => only.includes(name(t))) : all);

kernelSuite({
  scenarios: pick(
    ["file-slice", "file-reach", "writes", "identity", "inheritance", "exec-identity", "modes", "flood", "events-pipe", "doctor", "lifecycle", "self-protection", "control", "examples", "verity", "digest", "runtime", "net"],
    (n) => n,
  ).map(scenario),
  timeoutMs: 1_200_000,
  scenarioTimeoutSeconds: 300,
  files,
  checks: only ? [] : [
    "file-agent-starts",
    "reach-agent-starts",
    "inherit-agent-starts",
    "modes-agent-starts",
    "flood-agent-starts",
    "file-running-before-start-trusted-reads",
    "file-running-before-start-other-denied",
    "file-trusted-reader-reads",
    "file-trusted-reader-content",
    "file-root-denied",
    "file-other-user-denied",
    "file-copy-of-trusted-binary-denied",
    "file-hard-link-denied",
    "file-write-by-root-denied",
    "file-content-intact",
    "file-content-unchanged",
    "file-event-action",
    "file-event-target",
    "file-event-exe",
    "file-event-rule",
    "file-event-access",
    "file-event-time",
    "file-event-other-user",
    "file-event-write",
    "file-no-event-for-allowed-read",
    "file-sighup-refused",
    "file-agent-survives-sighup",
    "file-enforcing-after-sighup",
    "file-agent-stops-cleanly",
    "file-agent-counters",
    "file-readable-after-stop",
    ...["plain", "opath-reopen", "handle", "io-uring"].flatMap((m) => [`reach-${m}-works-on-unprotected`, `reach-${m}-denied`]),
    "reach-hard-link-made-before-start",
    "reach-symlink",
    "reach-proc-pid-root",
    "reach-dot-dot-path",
    "reach-bind-mount",
    "reach-renamed-parent",
    "reach-trusted-through-dynamic-loader",
    "reach-same-name-elsewhere",
    "reach-as-other-user",
    "writes-agent-starts",
    ...["truncate", "chmod", "chown", "utimes"].flatMap((op) => [`writes-${op}-works-on-unprotected`, `writes-${op}-by-root-denied`]),
    "writes-truncate-by-reader-denied",
    "writes-chmod-by-reader-denied",
    "writes-unlink-denied",
    "writes-unlink-through-hard-link-denied",
    "writes-rename-denied",
    "writes-replace-by-rename-denied",
    "writes-overwrite-denied",
    "writes-content-intact",
    "writes-content-unchanged",
    "writes-writer-appends",
    "writes-writer-chmod",
    "writes-writer-renames",
    "writes-renamed-still-protected",
    "writes-renamed-still-trusted",
    "writes-writer-content",
    "writes-writer-renames-back",
    "writes-writer-replaces-atomically",
    "writes-replaced-file-protected",
    "writes-replaced-file-trusted",
    "writes-replaced-file-content",
    "writes-pidfd-getfd-works-on-unprotected",
    "writes-pidfd-getfd-denied",
    "writes-scm-rights-works-on-unprotected",
    "writes-scm-rights-denied",
    ...["setattr", "unlink", "rename", "receive"].map((op) => `writes-event-${op}`),
    "writes-event-unlink-names-file",
    "writes-event-unlink-access",
    "identity-agent-starts",
    "identity-set-exe-file-denied",
    "identity-denied-at-prctl",
    "identity-other-prctl-still-works",
    "identity-other-prctl-result",
    "identity-event",
    "identity-event-rule",
    "inherit-child-reads",
    "inherit-child-content",
    "inherit-grandchild-through-shell-reads",
    "inherit-grandchild-content",
    "inherit-off-child-denied",
    "inherit-named-child-acts-as-itself",
    "inherit-named-child-keeps-own-grants",
    "inherit-no-grant-no-inheritance",
    "inherit-unrelated-process-denied",
    "inherit-chain-broken-by-named",
    "modes-half-valid-policy-refused",
    "modes-half-valid-names-line",
    "modes-half-valid-says-why",
    "modes-half-valid-nothing-applied",
    "modes-enforce-rule-blocks",
    "modes-monitor-rule-allows",
    "modes-monitor-content",
    "modes-monitor-event-action",
    "modes-monitor-event-rule",
    "modes-enforce-event-deny",
    "flood-denied-while-agent-stopped",
    "flood-every-open-denied",
    "flood-lost-events-reported",
    "flood-still-enforcing",
    "pipe-agent-starts",
    "pipe-first-denial",
    "pipe-first-event-read",
    "pipe-second-denial",
    "pipe-third-denial",
    "pipe-agent-survives",
    "pipe-still-enforcing",
    "pipe-agent-says-so",
    "doctor-exit-0",
    "doctor-probe-ran",
    "doctor-lsm-listed",
    "doctor-agent-programs-load",
    "doctor-verdict",
    "doctor-json",
    "doctor-with-readonly-noexec-tmp",
    ...[
      "agent-starts",
      "first-generation",
      "denied",
      "event-names-generation",
      "second-agent-refused",
      "second-agent-says-why",
      "denied-after-second-agent",
      "enforced-after-agent-died",
      "trusted-reads-after-agent-died",
      "write-refused-after-agent-died",
      "other-policy-refused",
      "other-policy-names-policy-in-force",
      "enforced-after-refusal",
      "agent-adopts",
      "adoption-said",
      "next-generation",
      "no-gap-across-restart",
      "loop-ran",
      "earlier-programs-released",
      "denied-by-new-run",
      "earlier-generation-event-rule",
      "trusted-reads-after-adoption",
      "stops-cleanly",
      "readable-after-stop",
      "pins-removed",
    ].map((c) => `life-${c}`),
    ...SELF_PROTECTION_CHECKS,
    ...CONTROL_CHECKS,
    ...EXEC_IDENTITY_CHECKS,
    ...DIGEST_CHECKS,
    ...RUNTIME_CHECKS,
    ...NET_CHECKS,
    ...["fs-made", "enable", "measure", "content-immutable", "runs"].map((c) => `verity-${c}`),
    ...[
      "self-protection-starts",
      "backup-reads-password",
      "root-denied-password",
      "guarded-file-write-refused",
      "guarded-file-remove-refused",
      "guarded-file-readable",
      "kill-refused",
      "events-in-file",
      "event-names-line",
      "agent-event-in-file",
      "no-allow-events",
      "self-protection-stops",
      "password-readable-after",
      "ptrace-defense-starts",
      "vault-agent-runs",
      "vault-agent-preload-killed",
      "api-tunables-killed",
      "vault-agent-ptrace-refused",
      "gdb-may-trace",
      "fileless-refused",
      "ptrace-defense-stops",
      "ip-protection-starts",
      ...["signer-kms", "other-kms-refused", "web-kms-refused", "signer-dns", "signer-payments-refused", "signer-raw-refused"].map((c) => `ip-${c}`),
      ...["web-database", "web-database6", "other-database-refused", "web-payments", "web-payments6", "web-loopback", "web-elsewhere-refused", "web-child-refused"].map((c) => `ip-${c}`),
      ...["other-payments", "other-elsewhere-refused", "other-raw-refused", "event-rule"].map((c) => `ip-${c}`),
      "ip-protection-stops",
      "inherit-net-starts",
      ...["worker-store", "worker-deep-store", "worker-elsewhere-refused", "worker-other-port-refused", "other-store-refused", "exporter-child-store-refused", "other-elsewhere"].map((c) => `inherit-${c}`),
      "inherit-net-stops",
    ].map((c) => `ex-${c}`),
  ],
});

kernelSuite({
  label: "without bpf in lsm=",
  lsm: "lockdown,capability,landlock,yama",
  scenarios: [scenario("refuse-without-bpf-lsm")],
  files,
  checks: [
    "refuse-doctor-exit-3",
    "refuse-doctor-lsm-hint",
    "refuse-doctor-verdict",
    "refuse-run-exit-3",
    "refuse-run-explains",
    "refuse-run-hint",
    "refuse-nothing-enforced",
  ],
});
