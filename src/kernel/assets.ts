// The native pieces embedded in the binary: the shim and the BPF objects (built by build.ts).
// In the compiled binary these paths live under /$bunfs/, which only Bun can read: the
// shim is handed to the kernel through a memfd and the objects are opened from memory.
import shimPath from "../../.build/libbomfather.so" with { type: "file" };
import agentPath from "../../.build/bomfather.bpf.o" with { type: "file" };
import probePath from "../../.build/probe.bpf.o" with { type: "file" };
import { Shim } from "../../ffi/shim.ts";

let shim: Shim | null = null;

async function bytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(path).arrayBuffer());
}

export async function loadShim(): Promise<Shim> {
  shim ??= Shim.load(await bytes(shimPath));
  return shim;
}

export const agentObject = () => bytes(agentPath);
export const probeObject = () => bytes(probePath);
