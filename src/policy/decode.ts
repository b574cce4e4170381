// Stage 0: bytes to text. A policy is UTF-8 text of bounded size with no control characters;
// anything else (a binary file, a wrong encoding, a runaway generator) stops here with one
// diagnostic at the first offending byte, before the YAML parser sees it.

import { diagnostic, type Diagnostic } from "./diagnostic.ts";

/**
 * Largest policy accepted, in bytes: 8 MiB. Real policies are a few kilobytes; 10,000 rules in
 * block style take about 1.1 MB, and the kernel holds at most 65,536 protected files (about
 * 7 MB of rules), so every policy the kernel can hold fits.
 */
export const MAX_POLICY_BYTES = 8 * 1024 * 1024;

export type Decoded = { ok: true; text: string } | { ok: false; diagnostic: Diagnostic };

export function decodePolicy(input: string | Uint8Array, file: string): Decoded {
  const fail = (line: number, col: number, message: string, hint: string): Decoded => ({
    ok: false,
    diagnostic: diagnostic(file, { line, col }, "error", message, [], hint),
  });

  let text: string;
  if (typeof input === "string") {
    const bytes = input.length > MAX_POLICY_BYTES ? input.length : Buffer.byteLength(input, "utf8");
    if (bytes > MAX_POLICY_BYTES) return fail(1, 1, `Policy is too large (${bytes} bytes)`, tooLargeHint());
    text = input;
  } else {
    if (input.length > MAX_POLICY_BYTES) return fail(1, 1, `Policy is too large (${input.length} bytes)`, tooLargeHint());
    // The native decoder answers "is it UTF-8" fast; the scan below finds where it is not.
    let decoded: string | undefined;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      decoded = undefined;
    }
    const bad = decoded === undefined ? firstInvalidUtf8(input) : -1;
    if (bad !== -1) {
      const { line, col } = bytePosition(input, bad);
      return fail(
        line,
        col,
        `Invalid UTF-8 byte 0x${input[bad]!.toString(16).padStart(2, "0")} at offset ${bad}`,
        "a policy must be UTF-8 text; is this a binary file or another encoding?",
      );
    }
    text = decoded ?? new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(input);
  }

  if (text.startsWith("\uFEFF")) text = text.slice(1);

  // A native search for the first character that may be refused; the loop below says why.
  const suspect = text.search(SUSPECT);
  for (let i = suspect === -1 ? text.length : suspect; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const control = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || (c >= 0x80 && c <= 0x9f);
    const surrogate = c >= 0xd800 && c <= 0xdfff && !validSurrogatePair(text, i);
    if (!control && !surrogate) {
      if (c >= 0xd800 && c <= 0xdbff) i++; // skip the low half of a valid pair
      continue;
    }
    const { line, col } = textPosition(text, i);
    if (c === 0) return fail(line, col, "Policy contains a NUL byte", "a policy must be UTF-8 text; is this a binary file?");
    if (surrogate) return fail(line, col, "Policy contains an unpaired UTF-16 surrogate", "a policy must be valid Unicode text");
    return fail(
      line,
      col,
      `Policy contains the control character U+${c.toString(16).toUpperCase().padStart(4, "0")}`,
      "remove it; a policy is plain text (tabs and line breaks are the only control characters allowed)",
    );
  }
  return { ok: true, text };
}

/** Control characters (tab and line breaks aside) and surrogates, paired or not. */
const SUSPECT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]/;

function tooLargeHint(): string {
  return `the limit is ${MAX_POLICY_BYTES} bytes (${MAX_POLICY_BYTES / (1024 * 1024)} MiB), room for more rules than the kernel holds; is this really a policy?`;
}

function validSurrogatePair(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = text.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff;
  }
  return false; // a low surrogate reached here has no high half before it
}

/** Offset of the first byte that is not part of well-formed UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) (need = 1), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (need = 2), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (need = 3), (min = 0x10000);
    else return i;
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Line and column (UTF-16 units, 1-based) of a byte offset in valid UTF-8 up to that offset. */
function bytePosition(b: Uint8Array, offset: number): { line: number; col: number } {
  let lineStart = 0;
  let line = 1;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const prefix = new TextDecoder().decode(b.subarray(lineStart, offset));
  return { line, col: prefix.length + 1 };
}

/** Line and column (1-based) of a UTF-16 offset. */
export function textPosition(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}
