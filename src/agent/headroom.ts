// Room for the garbage collector: the agent's heap may grow by what a change of its policy
// allocates before JavaScriptCore collects all of it.
//
// JavaScriptCore collects the whole heap once it has grown to about twice what the last full
// collection left (the young generation is collected more often, and cheaply). A start or a reload
// allocates about 42 bytes for each byte of the policy, most of it alive until the change ends (the
// parsed text, the rules, the entries): for the bench's large policy (1.3 MB) about 55 MB, more than
// the idle agent's heap (26 MB after a start, about 35 MB after reloads). So the first reloads after a
// start, and the start itself, each ran a full collection while the new policy was half built,
// with both policies alive: measured under counted time on 6.1 (BUN_JSC_logGC), 170-260 ms of
// pauses and the collector's thread taking the VM's one CPU beside the work for up to 1.5 s.
//
// An ArrayBuffer counts in the heap's size for the collector's pacing, and one that is never written
// takes no memory: its pages are never touched (test/unit/headroom.test.ts). Holding one of about the
// size a change allocates makes room for a change without a full collection. The garbage a full
// collection would have freed may then stay up to that much longer: the agent collects in full once
// idle after each change of policy (src/agent/serve.ts), where nothing waits on it.

/** Bytes allocated for each byte of a policy by a start or a reload, with some margin (measured: about 42). */
export const HEADROOM_PER_POLICY_BYTE = 48;
/**
 * The most room kept, whatever the policy: it binds above 5.3 MiB of policy (the reader accepts up
 * to 8 MiB, src/policy/decode.ts), far beyond the bench's large policy (1.3 MB); such a change may
 * run a full collection halfway, as every change did before.
 */
export const HEADROOM_MAX = 256 << 20;

/** The room for a policy of `policyBytes` bytes. */
export function headroomFor(policyBytes: number): number {
  return Math.min(HEADROOM_MAX, Math.max(0, Math.round(policyBytes * HEADROOM_PER_POLICY_BYTE)));
}

export class Headroom {
  #room: ArrayBuffer | null = null;
  #wanted = 0;

  /** The room a policy of `policyBytes` needs, made at the next settle(). */
  want(policyBytes: number): void {
    this.#wanted = headroomFor(policyBytes);
  }

  /**
   * Makes the room wanted, when it differs from what is held by more than a quarter (a policy that
   * changes by a few rules keeps its room). Call it where a collection follows or nothing waits:
   * the room counts as allocated, and may start a collection of the young generation.
   */
  settle(): void {
    const held = this.#room?.byteLength ?? 0;
    if (held === 0 ? this.#wanted === 0 : Math.abs(this.#wanted - held) <= held / 4) return;
    this.#room = this.#wanted > 0 ? new ArrayBuffer(this.#wanted) : null;
  }

  /** The bytes of room held now. */
  get held(): number {
    return this.#room?.byteLength ?? 0;
  }
}

/** The agent's room (one per process). */
export const headroom = new Headroom();
