// src/abi.ts against the BTF of the compiled object (built from bpf/bomfather.h): a struct
// size, a field offset or an enum value that drifts fails here, before any kernel sees it.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENUMS, Event, InodeKey, MAP_LIMITS, NESTED_STRUCTS, STRUCTS, kernelDev } from "../../src/abi.ts";
import { KERNEL_NEEDS, PROGRAMS, kernelHas, programsFor } from "../../src/kernel/kernel.ts";
import { agentObject, loadShim } from "../../src/kernel/assets.ts";
import type { BtfEnum, BtfStruct } from "../../ffi/shim.ts";

const shim = await loadShim();
const obj = shim.openObject(await agentObject(), "bomfather");

describe("structs match the object's BTF", () => {
  for (const layout of STRUCTS) {
    test(layout.name, () => {
      const btf = obj.describeBtf(layout.name) as BtfStruct;
      expect(btf.kind).toBe("struct");
      expect({ size: layout.size, fields: layout.fields.map((f) => ({ name: f.name, offset: f.offset, size: f.size })) }).toEqual({
        size: btf.size,
        fields: btf.members,
      });
    });
  }
});

describe("structs holding a struct match the object's BTF in size and outer fields", () => {
  for (const layout of NESTED_STRUCTS) {
    test(layout.name, () => {
      const btf = obj.describeBtf(layout.name) as BtfStruct;
      expect(btf.size).toBe(layout.size);
      // The codec spells a nested struct out field by field: each member of the header's struct is
      // covered exactly by the codec's fields in its bytes, and a member the codec has as one field
      // has the same name.
      for (const m of btf.members) {
        const inside = layout.fields.filter((f) => f.offset >= m.offset && f.offset < m.offset + m.size);
        expect({ member: m.name, offset: inside[0]?.offset, bytes: inside.reduce((n, f) => n + f.size, 0) }).toEqual({ member: m.name, offset: m.offset, bytes: m.size });
        for (const f of inside) expect(f.offset + f.size).toBeLessThanOrEqual(m.offset + m.size);
        if (inside.length === 1) expect(inside[0]!.name).toBe(m.name);
      }
    });
  }
});

describe("enums match the object's BTF", () => {
  for (const [name, values] of Object.entries(ENUMS)) {
    test(name, () => {
      const btf = obj.describeBtf(name) as BtfEnum;
      expect(btf.kind).toBe("enum");
      expect(values).toEqual(btf.values);
    });
  }
});

test("a struct the header lacks is reported, not invented", () => {
  expect(() => obj.describeBtf("bf_no_such_struct")).toThrow(/No such file|errno 2/);
});

test("codecs round-trip and truncate strings at NUL", () => {
  const bytes = Event.encode({ boot_ns: 5n, pid: 42, comm: "cat", target: "/srv/demo/secret.txt" });
  const e = Event.decode(bytes);
  expect(e.boot_ns).toBe(5n);
  expect(e.pid).toBe(42);
  expect(e.comm).toBe("cat");
  expect(e.target).toBe("/srv/demo/secret.txt");
  expect(e.exe).toBe("");
  expect(InodeKey.encode({ ino: 0x0102030405060708n, dev: 0x0a0b0c0d })).toEqual(
    // ino (u64, little endian), dev (u32), pad (u32)
    new Uint8Array([8, 7, 6, 5, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a, 0, 0, 0, 0]),
  );
});

test("st_dev converts to the kernel's s_dev encoding", () => {
  // 8:1 (sda1): glibc makedev(8,1) = 0x801; kernel MKDEV(8,1) = 8 << 20 | 1
  expect(kernelDev(0x801)).toBe((8 << 20) | 1);
  // 259:3 (nvme0n1p3): glibc = 0x10303 ... major 259 = 0x103 -> (0x103 << 8) | 3
  expect(kernelDev((0x103 << 8) | 3)).toBe((259 << 20) | 3);
  // minor 300 (> 255): glibc keeps the high minor bits at 12..31
  expect(kernelDev((8 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12))).toBe((8 << 20) | 300);
});

test("every program of the object is attached by the agent, and nothing else", () => {
  expect([...obj.programNames()].sort()).toEqual([...PROGRAMS].sort());
});

test("each kernel gets one exec-identity program, and the hooks it has", () => {
  // 6.1: no fs-verity kfunc, no ACL hooks (ACLs reach setxattr there).
  const old = programsFor(new Set(["bpf_lsm_file_ioctl_compat"]));
  expect(old).toContain("bprm_creds_from_file");
  expect(old).not.toContain("bprm_creds_from_file_verity");
  expect(old).not.toContain("inode_set_acl");
  expect(old).toContain("file_ioctl_compat");
  // 6.12: all of them, and the variant that checks digests at exec.
  const recent = programsFor(new Set(["bpf_get_fsverity_digest", "bpf_lsm_inode_set_acl", "bpf_lsm_inode_remove_acl", "bpf_lsm_file_ioctl_compat"]));
  expect(recent).toContain("bprm_creds_from_file_verity");
  expect(recent).not.toContain("bprm_creds_from_file");
  expect(recent).toEqual(expect.arrayContaining(["inode_set_acl", "inode_remove_acl"]));
  // Every other program is loaded everywhere.
  const always = PROGRAMS.filter((p) => !(p in KERNEL_NEEDS));
  for (const set of [old, recent]) expect(set).toEqual(expect.arrayContaining(always));
});

test("the map capacities the checker counts against are bpf/maps.bpf.h's", () => {
  const header = readFileSync(join(import.meta.dir, "..", "..", "bpf", "maps.bpf.h"), "utf8");
  const define = (name: string) => Number(new RegExp(`^#define ${name} (\\d+)$`, "m").exec(header)?.[1]);
  expect({ ...MAP_LIMITS } as Record<string, number>).toEqual({
    exes: define("BF_MAX_EXES"),
    files: define("BF_MAX_FILES"),
    grants: define("BF_MAX_GRANTS"),
    dests: define("BF_MAX_DESTS"),
    ports: define("BF_MAX_PORTS"),
    confined: define("BF_MAX_CONFINED"),
  });
});

test("a kernel function is known by its name in the kernel's BTF strings, whole names only", () => {
  const btf = Buffer.from("\0bpf_lsm_file_open\0bpf_lsm_inode_set_acl\0bpf_get_fsverity_digest_x\0");
  expect([...kernelHas(["bpf_lsm_inode_set_acl", "bpf_get_fsverity_digest", "bpf_lsm_file"], btf)]).toEqual(["bpf_lsm_inode_set_acl"]);
});
