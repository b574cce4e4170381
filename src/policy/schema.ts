// The policy language: one TypeBox schema, the source of both the static `Policy` type and the
// structural validation (validate.ts). Every object is closed (additionalProperties: false), so a
// typo in a key is an error, never a silently ignored rule.
//
// What the schema cannot say (an address is a valid CIDR, a name refers to a defined executable,
// two rules contradict each other) is checked by semantic.ts. docs/policy.md documents every key.
//
// Schema options used by the error translator (validate.ts):
//   title      a noun for messages: "Expected a file rule, found a string"
//   emptyHint  the hint shown when a list that needs at least one item is empty
//   typeHint   the hint shown when a value of the wrong kind stands where this one belongs
//   synonyms   for a closed set of values: other words people write for them ("audit" for
//              "monitor"), answered with "did you mean"; near misses ("Monitor") are found anyway

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { KEY_OPERATIONS } from "./words.ts";

/** The only policy version this code understands. */
export const POLICY_VERSION = 1;

export const MODES = ["enforce", "monitor"] as const;
export const ACCESSES = ["read", "write"] as const;
export const PROTOCOLS = ["tcp", "udp"] as const;
export const NETWORK_DEFAULTS = ["allow", "deny"] as const;
export const ENV_ACTIONS = ["deny", "neutralise"] as const;
export { KEY_OPERATIONS };
export const EVENT_KINDS = ["deny", "monitor", "allow"] as const;

/** Defaults of every optional key whose absence means something. docs/policy.md repeats them. */
export const DEFAULTS = {
  mode: "enforce",
  inherit: true,
  networkDefault: "allow",
  envVariables: ["LD_*", "GLIBC_TUNABLES"],
  envAction: "deny",
  eventOutput: "stdout",
  eventInclude: ["deny", "monitor"],
} as const;

const Mode = Type.Union([Type.Literal("enforce"), Type.Literal("monitor")], {
  title: "mode",
  synonyms: { audit: "monitor", log: "monitor", warn: "monitor", observe: "monitor", block: "enforce", deny: "enforce", protect: "enforce" },
});
const Access = Type.Union([Type.Literal("read"), Type.Literal("write")], { title: "access", synonyms: { r: "read", w: "write" } });
const Protocol = Type.Union([Type.Literal("tcp"), Type.Literal("udp")], { title: "protocol" });
const NetworkDefault = Type.Union([Type.Literal("allow"), Type.Literal("deny")], {
  title: "network default",
  synonyms: { block: "deny", reject: "deny", drop: "deny", refuse: "deny", permit: "allow", accept: "allow" },
});
const EnvAction = Type.Union([Type.Literal("deny"), Type.Literal("neutralise")], {
  title: "action",
  synonyms: { block: "deny", refuse: "deny", reject: "deny", neutralize: "neutralise", strip: "neutralise", remove: "neutralise" },
});
const KeyOperation = Type.Union([Type.Literal("shutdown"), Type.Literal("reload")], {
  title: "operation",
  synonyms: { stop: "shutdown", restart: "reload" },
});
const EventKind = Type.Union([Type.Literal("deny"), Type.Literal("monitor"), Type.Literal("allow")], {
  title: "event kind",
  synonyms: { audit: "monitor", block: "deny", blocked: "deny", denied: "deny", allowed: "allow" },
});

const Path = Type.String({ title: "path" });
const ExecutableName = Type.String({ title: "executable name" });
const DestinationName = Type.String({ title: "destination name" });

/** A list of executable names that must not be empty. */
function Executables(emptyHint: string) {
  return Type.Array(ExecutableName, { minItems: 1, title: "list of executable names", emptyHint });
}

const Executable = Type.Object(
  {
    path: Path,
    digest: Type.Optional(Type.String({ title: "digest" })),
    inherit: Type.Optional(Type.Boolean({ title: "boolean" })),
  },
  {
    additionalProperties: false,
    title: "executable",
    typeHint: 'give it a "path" on the next line, indented: "path: /usr/local/bin/reader"',
  },
);

const Grant = Type.Object(
  {
    executable: ExecutableName,
    access: Type.Union(
      [Access, Type.Array(Access, { minItems: 1, title: "list of accesses", emptyHint: 'write "read", "write" or both' })],
      { title: "access" },
    ),
  },
  { additionalProperties: false, title: "grant" },
);

const FileRule = Type.Object(
  {
    path: Path,
    allow: Type.Array(Grant, {
      minItems: 1,
      title: "list of grants",
      typeHint: 'start each grant with "- ", e.g. "- executable: reader" then "access: [read]"',
      emptyHint: "name at least one executable that may use this path; unnamed processes, root included, are always denied",
    }),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "file rule" },
);

const Port = Type.Union([Type.Integer({ title: "port" }), Type.String({ title: "port range" })], {
  title: "port",
  typeHint: 'write a port such as 443, or a range such as "8000-8100"',
});

const Destination = Type.Object(
  {
    addresses: Type.Optional(
      Type.Array(Type.String({ title: "address" }), {
        minItems: 1,
        title: "list of addresses",
        emptyHint: 'write an address such as "10.0.0.5" or "10.0.0.0/24", or remove "addresses"',
      }),
    ),
    hosts: Type.Optional(
      Type.Array(Type.String({ title: "host name" }), {
        minItems: 1,
        title: "list of host names",
        emptyHint: 'write a DNS name such as "kms.example.com", or remove "hosts"',
      }),
    ),
    ports: Type.Optional(
      Type.Array(Port, {
        minItems: 1,
        title: "list of ports",
        emptyHint: 'write a port such as 443 or a range such as "8000-8100", or remove "ports" to cover every port',
      }),
    ),
    protocol: Type.Optional(Protocol),
    allow: Type.Optional(
      Executables('name the executables that alone may reach this destination, or remove "allow" to let any executable reach it'),
    ),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "destination" },
);

const Confinement = Type.Object(
  {
    executable: ExecutableName,
    to: Type.Array(DestinationName, {
      minItems: 1,
      title: "list of destination names",
      emptyHint: "name the destinations this executable may reach",
    }),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "confinement" },
);

const Network = Type.Object(
  {
    default: Type.Optional(NetworkDefault),
    destinations: Type.Optional(
      Type.Record(Type.String(), Destination, {
        title: "mapping of destinations",
        typeHint: 'write each destination as a name followed by its keys: "kms:" then "hosts: [kms.example.com]" indented below it',
      }),
    ),
    confine: Type.Optional(Type.Array(Confinement, { title: "list of confinements", typeHint: 'start each confinement with "- "' })),
  },
  { additionalProperties: false, title: "network section" },
);

const Environment = Type.Object(
  {
    variables: Type.Optional(
      Type.Array(Type.String({ title: "variable name" }), {
        minItems: 1,
        title: "list of variable names",
        emptyHint: 'name the variables to refuse, such as "LD_PRELOAD" or "LD_*", or remove "variables" for the default list',
      }),
    ),
    action: Type.Optional(EnvAction),
    protect: Type.Optional(Executables('name the executables to protect, or remove "protect" to protect every executable in the policy')),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "environment section", typeHint: 'write "environment: {}" to turn it on with its defaults' },
);

const Ptrace = Type.Object(
  {
    protect: Type.Optional(Executables('name the executables to protect, or remove "protect" to protect every executable in the policy')),
    tracers: Type.Optional(Executables('name the executables that may trace, or remove "tracers" to allow none')),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "ptrace section", typeHint: 'write "ptrace: {}" to turn it on with its defaults' },
);

const Fileless = Type.Object(
  {
    allow: Type.Optional(Executables('name the executables that may run fileless programs, or remove "allow" to allow none')),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false, title: "fileless section", typeHint: 'write "fileless: {}" to turn it on with its defaults' },
);

const Runtime = Type.Object(
  {
    environment: Type.Optional(Environment),
    ptrace: Type.Optional(Ptrace),
    fileless: Type.Optional(Fileless),
  },
  { additionalProperties: false, title: "runtime section" },
);

const AgentKey = Type.Object(
  {
    name: Type.String({ title: "key name" }),
    key: Type.String({ title: "public key" }),
    allow: Type.Array(KeyOperation, {
      minItems: 1,
      title: "list of operations",
      emptyHint: 'write "shutdown", "reload" or both',
    }),
  },
  { additionalProperties: false, title: "key" },
);

const Protection = Type.Object(
  {
    mode: Type.Optional(Mode),
    files: Type.Optional(
      Type.Array(Path, {
        minItems: 1,
        title: "list of paths",
        emptyHint: 'name the extra files to guard, or remove "files"',
      }),
    ),
  },
  { additionalProperties: false, title: "protection section" },
);

const Events = Type.Object(
  {
    output: Type.Optional(Type.String({ title: "output" })),
    include: Type.Optional(
      Type.Array(EventKind, {
        minItems: 1,
        title: "list of event kinds",
        emptyHint: 'write "deny", "monitor", "allow" or a combination',
      }),
    ),
  },
  { additionalProperties: false, title: "events section" },
);

const Agent = Type.Object(
  {
    keys: Type.Optional(
      Type.Array(AgentKey, {
        minItems: 1,
        title: "list of keys",
        typeHint: 'start each key with "- "',
        emptyHint: 'add a public key, or remove "keys"',
      }),
    ),
    protection: Type.Optional(Protection),
    events: Type.Optional(Events),
  },
  { additionalProperties: false, title: "agent section" },
);

export const PolicySchema = Type.Object(
  {
    version: Type.Literal(POLICY_VERSION, { title: "version" }),
    mode: Type.Optional(Mode),
    executables: Type.Optional(
      Type.Record(Type.String(), Executable, {
        title: "mapping of executables",
        typeHint: 'write each executable as a name followed by its keys: "reader:" then "path: /usr/bin/reader" indented below it',
      }),
    ),
    files: Type.Optional(Type.Array(FileRule, { title: "list of file rules", typeHint: 'start each file rule with "- "' })),
    network: Type.Optional(Network),
    runtime: Type.Optional(Runtime),
    agent: Type.Optional(Agent),
  },
  { additionalProperties: false, title: "policy" },
);

export type Policy = Static<typeof PolicySchema>;
export type Mode = Static<typeof Mode>;
export type Access = Static<typeof Access>;
export type Protocol = Static<typeof Protocol>;
export type Executable = Static<typeof Executable>;
export type Grant = Static<typeof Grant>;
export type FileRule = Static<typeof FileRule>;
export type Port = Static<typeof Port>;
export type Destination = Static<typeof Destination>;
export type Confinement = Static<typeof Confinement>;
export type Network = Static<typeof Network>;
export type Environment = Static<typeof Environment>;
export type Ptrace = Static<typeof Ptrace>;
export type Fileless = Static<typeof Fileless>;
export type Runtime = Static<typeof Runtime>;
export type AgentKey = Static<typeof AgentKey>;
export type Protection = Static<typeof Protection>;
export type Events = Static<typeof Events>;
export type Agent = Static<typeof Agent>;

/** Every key path of the language ("files.*.allow.*.access"), for support.ts and its tests. */
export function schemaKeyPaths(schema: TSchema = PolicySchema, prefix = ""): string[] {
  const out: string[] = [];
  const walk = (s: TSchema, at: string): void => {
    if (s.type === "object" && s.properties) {
      for (const [key, child] of Object.entries(s.properties as Record<string, TSchema>)) {
        const p = at === "" ? key : `${at}.${key}`;
        out.push(p);
        walk(child, p);
      }
    } else if (s.type === "object" && s.patternProperties) {
      const child = Object.values(s.patternProperties as Record<string, TSchema>)[0];
      if (child) walk(child, `${at}.*`);
    } else if (s.type === "array" && s.items) {
      walk(s.items as TSchema, `${at}.*`);
    } else if (Array.isArray(s.anyOf)) {
      for (const branch of s.anyOf as TSchema[]) if (branch.type === "array") walk(branch.items as TSchema, at);
    }
  };
  walk(schema, prefix);
  return out;
}
