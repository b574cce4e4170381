import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Headroom, HEADROOM_MAX, HEADROOM_PER_POLICY_BYTE, headroomFor } from "../../src/agent/headroom.ts";

/** This process's resident memory, in bytes (Linux). */
function resident(): number {
  const kb = readFileSync("/proc/self/status", "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!kb) throw new Error("no VmRSS in /proc/self/status");
  return Number(kb[1]) * 1024;
}

describe("the collector's headroom", () => {
  test("is sized by the policy, up to a bound", () => {
    expect(headroomFor(0)).toBe(0);
    expect(headroomFor(1_275_739)).toBe(1_275_739 * HEADROOM_PER_POLICY_BYTE);
    expect(headroomFor(100 << 20)).toBe(HEADROOM_MAX);
  });

  test("is made at settle(), and kept while the policy changes by a quarter or less", () => {
    const room = new Headroom();
    room.want(1 << 20);
    expect(room.held).toBe(0);
    room.settle();
    expect(room.held).toBe(headroomFor(1 << 20));
    room.want((1 << 20) * 1.2);
    room.settle();
    expect(room.held).toBe(headroomFor(1 << 20));
    room.want(2 << 20);
    room.settle();
    expect(room.held).toBe(headroomFor(2 << 20));
    room.want(0);
    room.settle();
    expect(room.held).toBe(0);
  });

  // The room counts for the collector's pacing only: if this runtime ever wrote its pages (zeroing
  // them, say), the agent would hold that much more memory for nothing, and this fails.
  test("takes no resident memory", () => {
    const room = new Headroom();
    Bun.gc(true);
    const before = resident();
    room.want(HEADROOM_MAX / HEADROOM_PER_POLICY_BYTE);
    room.settle();
    expect(room.held).toBe(HEADROOM_MAX);
    Bun.gc(true);
    const grown = resident() - before;
    expect(grown).toBeLessThan(16 << 20);
  });
});
