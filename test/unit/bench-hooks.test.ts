// The bench compares the agent with empty programs "on the same hooks": that holds only while
// test/kernel/bench/empty.bpf.c attaches to exactly the hooks of bpf/bomfather.bpf.c.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
// Hooks, once each: the agent has two variants of one program on some (one is loaded).
const hooks = (text: string) => [...new Set([...text.matchAll(/SEC\("(?:lsm(?:\.s)?|tp_btf)\/(\w+)"\)|EMPTY\((\w+)\)/g)].map((m) => m[1] ?? m[2]))].sort();

test("the bench's empty programs sit on every hook the agent uses, and no other", () => {
  const agent = hooks(readFileSync(join(root, "bpf", "bomfather.bpf.c"), "utf8"));
  const empty = hooks(readFileSync(join(root, "test", "kernel", "bench", "empty.bpf.c"), "utf8")).filter((h) => h !== "hook");
  expect(agent.length).toBeGreaterThan(5);
  expect(empty).toEqual(agent);
});
