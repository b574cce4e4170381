// The capability check reads CapEff, not the uid.
import { expect, test } from "bun:test";
import { CAPABILITIES, effectiveCapabilities, missingCapabilities } from "../../src/kernel/doctor.ts";

test("CapEff is read from /proc/self/status", () => {
  expect(effectiveCapabilities("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000000c200000004\nCapBnd:\t000001ffffffffff\n")).toBe(0xc200000004n);
  expect(effectiveCapabilities("Name:\tx\n")).toBeNull();
});

test("the missing capabilities are named, in the order of their numbers", () => {
  expect(missingCapabilities(0xc200000004n)).toEqual([]);
  expect(missingCapabilities(0n)).toEqual(["CAP_DAC_READ_SEARCH", "CAP_MAC_ADMIN", "CAP_PERFMON", "CAP_BPF"]);
  expect(missingCapabilities(0xc200000004n & ~(1n << 38n))).toEqual(["CAP_PERFMON"]);
  expect(missingCapabilities(0x1ffffffffffn)).toEqual([]); // root
  expect(CAPABILITIES).toEqual({ CAP_DAC_READ_SEARCH: 2, CAP_MAC_ADMIN: 33, CAP_PERFMON: 38, CAP_BPF: 39 });
});
