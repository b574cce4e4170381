// What an absolute path in a policy must look like. Text alone: whether it exists is the host's
// business (check.ts asks the host and warns).

import { startupCode } from "../jit.ts";

export interface Problem {
  severity: "error" | "warning";
  message: string;
  hint?: string;
}

/** Longest path the kernel accepts (PATH_MAX, NUL excluded) and longest component (NAME_MAX). */
export const PATH_MAX = 4095;
export const NAME_MAX = 255;

/**
 * The common case, answered by one regular expression: printable ASCII components of 1 to 255
 * characters, none "." or "..", no pattern characters, at most one trailing "/".
 */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[\x20-\x29\x2b-\x2e\x30-\x3e\x40-\x5a\x5c\x5e-\x7e]{1,255})+\/?$/;

/** The answer for a plain path: one list for all of them (a large policy has thousands). */
const NO_PROBLEMS: readonly Problem[] = Object.freeze([]);

/**
 * Problems with a path written in a policy. `directoryAllowed` says whether a trailing "/" is
 * meaningful here (a protected directory) or a mistake (an executable).
 */
export function pathProblems(path: string, what: "file" | "executable" | "output"): readonly Problem[] {
  if (path.length <= PATH_MAX && PLAIN_PATH.test(path) && (what === "file" || !path.endsWith("/"))) return NO_PROBLEMS;
  return analysePath(path, what);
}

/** pathProblems without the shortcut for plain paths (test/policy/units.test.ts compares the two). */
export function analysePath(path: string, what: "file" | "executable" | "output"): Problem[] {
  const q = JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}…` : path);
  if (path === "") return [{ severity: "error", message: "Empty path", hint: 'write an absolute path starting with "/"' }];
  if (/[\u0000-\u001f\u007f]/.test(path))
    return [{ severity: "error", message: `Path ${q} contains a control character`, hint: "remove it; check the escapes in quoted strings" }];
  if (!path.startsWith("/")) {
    const hint = path.startsWith("~")
      ? '"~" is not expanded; write the full path, such as "/home/alice/..."'
      : 'write an absolute path starting with "/"; the agent does not know the directory you meant';
    return [{ severity: "error", message: `Path ${q} is relative`, hint }];
  }
  const out: Problem[] = [];
  if (Buffer.byteLength(path, "utf8") > PATH_MAX)
    out.push({ severity: "error", message: `Path is longer than ${PATH_MAX} bytes`, hint: "the kernel cannot open a path this long" });
  const trailing = path.length > 1 && path.endsWith("/");
  if (trailing && what !== "file")
    out.push({ severity: "error", message: `Path ${q} ends with "/"`, hint: what === "executable" ? "an executable is a file, not a directory" : "name a file, not a directory" });
  const parts = path.split("/").slice(1, trailing ? -1 : undefined);
  if (path !== "/" && parts.some((p) => p === "" || p === "." || p === "..")) {
    const normal = normalizePath(path);
    out.push({
      severity: "error",
      message: parts.some((p) => p === "..")
        ? `Path ${q} contains ".."`
        : parts.some((p) => p === ".")
          ? `Path ${q} contains "."`
          : `Path ${q} contains an empty component`,
      hint: `write it plainly${normal ? `, such as ${JSON.stringify(normal)}` : ""}; the agent matches the path it is given, not the one it resolves to`,
    });
  }
  if (parts.some((p) => Buffer.byteLength(p, "utf8") > NAME_MAX))
    out.push({ severity: "error", message: `Path ${q} has a component longer than ${NAME_MAX} bytes`, hint: "no filesystem accepts a name this long" });
  const glob = path.match(/[*?[\]]/)?.[0];
  if (glob)
    out.push({
      severity: "warning",
      message: `Path ${q} contains ${JSON.stringify(glob)}, which is matched literally`,
      hint: "patterns are not supported; a directory covers everything below it",
    });
  return out;
}

/** "/a/./b//c/../d/" as the kernel would resolve it lexically: "/a/b/d"; undefined if it escapes "/". */
export function normalizePath(path: string): string | undefined {
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(p);
  }
  return `/${out.join("/")}`;
}

/** The path without a trailing "/", for comparing rules ("/srv/data/" and "/srv/data" are the same). */
export function pathKey(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.replace(/\/+$/, "") || "/" : path;
}

/** Directories whose protection would stop the host from working. */
const SYSTEM_DIRECTORIES = new Set([
  "/",
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/proc",
  "/run",
  "/sbin",
  "/sys",
  "/tmp",
  "/usr",
  "/usr/bin",
  "/usr/lib",
  "/usr/lib64",
  "/usr/sbin",
  "/var",
]);

export function isSystemDirectory(path: string): boolean {
  return SYSTEM_DIRECTORIES.has(pathKey(path));
}

/** Programs that run whatever code they are handed: trusting one trusts every script. */
export function interpreterKind(path: string): "interpreter" | "loader" | undefined {
  const base = path.slice(path.lastIndexOf("/") + 1);
  if (/^ld-linux.*\.so(\.\d+)*$|^ld(64)?\.so(\.\d+)*$|^ld-musl-.*\.so(\.\d+)*$/.test(base)) return "loader";
  if (
    /^(python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|bun|deno|php[0-9.]*|lua[0-9.]*|luajit|bash|sh|dash|zsh|ksh|mksh|fish|ash|busybox|env|tclsh[0-9.]*|java|osascript|awk|gawk|mawk)$/.test(
      base,
    )
  )
    return "interpreter";
  return undefined;
}

startupCode(pathProblems, pathKey, isSystemDirectory);
