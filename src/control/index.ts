// Signed shutdown and reload: the public surface for the agent and the command line.
//
// The agent, at start:   const challenges = new Challenges({ identity: agentIdentity(), keys: policyKeys(policy) });
//                        const server = ControlServer.listen({ challenges, handler, onRequest });
// in its loop:           server.poll()                       (every ~50 ms; never blocks)
// after a reload:        challenges.setKeys(policyKeys(newPolicy))
// when it stops:         server.close()
// The command line:      keygenCommand, signCommand, shutdownCommand, reloadCommand and USAGE.

export { agentIdentity, Challenges, policyKeys, verifierSelfTest, ACTIONS, REASONS, REQUEST_REASONS, CHALLENGE_TTL_NS, MAX_OUTSTANDING } from "./protocol.ts";
export type { Action, AgentIdentity, KeyInfo, PolicyKey, Reason, Refusal, Verdict } from "./protocol.ts";
export { ControlServer, SOCKET_DIR, SOCKET_PATH, RELOAD_NAME, DEFAULT_LIMITS } from "./socket.ts";
export type { ControlEvent, ControlHandler, HandlerResult, Peer, ServerLimits, ServerOptions } from "./socket.ts";
export { controlEventLine } from "./event.ts";
export type { ControlEventLine } from "./event.ts";
export { keygenCommand, signCommand, shutdownCommand, reloadCommand, USAGE } from "./commands.ts";
export type { CommandIO, KeygenOptions, ReloadOptions, ShutdownOptions, SignOptions } from "./commands.ts";
export { ControlError } from "./error.ts";
