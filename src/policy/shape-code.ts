// Build time only: validate.ts imports this file as a Bun macro (`with { type: "macro" }`), so the
// source of TypeBox's checker of PolicySchema is generated when the binary is bundled (or when
// `bun test` transpiles validate.ts) and written into it as a string. Generating it is the costly
// part of TypeBox's compiler (about 12 ms natively, 0.05 s under the VM's counted time at the
// start of a large policy); turning the string into a function costs a fraction of a millisecond.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { PolicySchema } from "./schema.ts";

/**
 * The body of TypeBox's checker: `new Function("kind", "format", "hash", source)(...)` returns
 * check(value). The schema uses no custom kind, no string format and no unique items: a checker
 * that would call back for one (and need TypeBox's registries at run time) fails the build.
 */
export function shapeCheckSource(): string {
  const source = TypeCompiler.Code(PolicySchema);
  if (/\b(?:kind|format|hash)\(/.test(source)) throw new Error("PolicySchema needs TypeBox's registries at run time: compile it with TypeCompiler.Compile");
  return source;
}
