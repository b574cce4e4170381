// The compiled agent (dist/bomfather) inside a VM, on Debian's 6.1 and 6.12 kernels: the
// first slice of file boundaries, doctor, and the refusal to start without the BPF LSM.
import { join } from "node:path";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { kernelSuite } from "./harness.ts";

const root = join(import.meta.dir, "..", "..");
const agent = join(root, "dist", "bomfather");
if (!existsSync(agent)) throw new Error(`${agent} is missing: run ./dev build first (./dev test does)`);

const scenario = (name: string) => join(import.meta.dir, "scenarios", `${name}.sh`);

// A small C program that opens files the ways an attacker would (O_PATH reopen, file handles).
const tools = mkdtempSync(join(tmpdir(), "bomfather-tools-"));
const reach = join(tools, "reach");
const cc = Bun.spawnSync(["gcc", "-O2", "-Wall", "-o", reach, join(import.meta.dir, "tools", "reach.c")], { stderr: "pipe" });
if (cc.exitCode !== 0) throw new Error(`Cannot build test/kernel/tools/reach.c: ${cc.stderr.toString()}`);
const files = [
  { host: agent, guest: "/usr/local/sbin/bomfather" },
  { host: join(root, "policies", "demo.yaml"), guest: "/policies/demo.yaml" },
  // A real glibc ELF, distinct from busybox, as the trusted executable the demo policy names.
  { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
  ...["inheritance", "monitor", "half-valid", "writes"].map((p) => ({ host: join(import.meta.dir, "policies", `${p}.yaml`), guest: `/policies/${p}.yaml` })),
  { host: "/usr/bin/env", guest: "/usr/local/bin/launcher" },
  { host: "/usr/bin/env", guest: "/usr/local/bin/launcher-no-inherit" },
  { host: reach, guest: "/opt/tools/reach" },
  { host: reach, guest: "/usr/local/bin/fd-holder" },
  { host: "/bin/busybox", guest: "/opt/trusted/busybox" },
];

kernelSuite({
  scenarios: [scenario("file-slice"), scenario("file-reach"), scenario("writes"), scenario("inheritance"), scenario("modes"), scenario("flood"), scenario("doctor")],
  files,
  checks: [
    "file-agent-starts",
    "reach-agent-starts",
    "inherit-agent-starts",
    "modes-agent-starts",
    "flood-agent-starts",
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
    "file-agent-stops-cleanly",
    "file-agent-counters",
    "file-readable-after-stop",
    ...["plain", "opath-reopen", "handle"].flatMap((m) => [`reach-${m}-works-on-unprotected`, `reach-${m}-denied`]),
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
    "writes-pidfd-getfd-works-on-unprotected",
    "writes-pidfd-getfd-denied",
    "writes-scm-rights-works-on-unprotected",
    "writes-scm-rights-denied",
    ...["setattr", "unlink", "rename", "receive"].map((op) => `writes-event-${op}`),
    "writes-event-unlink-names-file",
    "writes-event-unlink-access",
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
    "modes-monitor-event-audit",
    "modes-monitor-event-rule",
    "modes-enforce-event-deny",
    "flood-denied-while-agent-stopped",
    "flood-every-open-denied",
    "flood-lost-events-reported",
    "flood-still-enforcing",
    "doctor-exit-0",
    "doctor-probe-ran",
    "doctor-lsm-listed",
    "doctor-verdict",
    "doctor-json",
    "doctor-with-readonly-noexec-tmp",
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
