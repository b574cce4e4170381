// Where the agent listens: a Unix socket in a directory the agent creates 0700 and guards.
export const SOCKET_DIR = "/run/bomfather";
export const SOCKET_PATH = `${SOCKET_DIR}/control.sock`;
