// The policy language's public surface. See docs/policy.md for the language itself.

export { checkPolicy, itemStarts, locate, localHost, scriptInterpreter, valueStarts } from "./check.ts";
export type { CheckOptions, CheckResult, Location } from "./check.ts";
export { formatDiagnostics, formatDiagnosticsJson, formatReport, formatRuntimeProtection, formatVerdict, MAX_PRINTED } from "./format.ts";
export { unsupported, ENFORCED } from "./support.ts";
export { countDiagnostics, hasErrors, sortDiagnostics } from "./diagnostic.ts";
export type { Diagnostic, Severity, Span, ValuePath } from "./diagnostic.ts";
export type { Host, PathKind } from "./semantic.ts";
export { MAX_POLICY_BYTES } from "./decode.ts";
export { MAX_ALIAS_VALUES, MAX_DEPTH, MAX_VALUES, SourceMap } from "./parse.ts";
export { parseCidr, parsePort, parseHost } from "./net.ts";
export type { Cidr, PortRange } from "./net.ts";
export { parsePublicKey } from "./keys.ts";
export {
  PolicySchema,
  POLICY_VERSION,
  DEFAULTS,
  MODES,
  ACCESSES,
  PROTOCOLS,
  NETWORK_DEFAULTS,
  ENV_ACTIONS,
  KEY_OPERATIONS,
  EVENT_KINDS,
} from "./schema.ts";
export type {
  Policy,
  Mode,
  Access,
  Protocol,
  Executable,
  Grant,
  FileRule,
  Port,
  Destination,
  Confinement,
  Network,
  Environment,
  Ptrace,
  Fileless,
  Runtime,
  AgentKey,
  Protection,
  Events,
  Agent,
} from "./schema.ts";
