# Runtime-hijack defense, on by default (issue 11, first part): a program that holds a grant, and a
# child that inherits its identity, starts in secure-execution mode (the loader ignores LD_PRELOAD
# and LD_AUDIT, wherever they sit in an environment of any length), cannot be started traced, and
# nobody attaches to it or reads its memory. Each assertion both ways: the same attack works on a
# program that holds no grant.
. /scenarios/lib.sh

mkdir -p /srv/runtime
echo "the runtime secret" >/srv/runtime/secret.txt
export EVIL_FILE=/srv/runtime/secret.txt
EVIL=/opt/tools/evil.so

start_agent rt-agent-starts /policies/runtime.yaml || exit 1
expect_contains rt-start-names-protected "secure-execution mode" "$(grep 'secure-execution' /tmp/agent.err)"
expect_contains rt-start-names-reader "/usr/local/bin/trusted-reader" "$(grep 'secure-execution' /tmp/agent.err)"
expect_not_contains rt-start-skips-ungranted "/usr/local/bin/restic" "$(grep 'secure-execution' /tmp/agent.err)"

# LD_PRELOAD and LD_AUDIT into the trusted program: not loaded; the program itself works.
expect_ok rt-preload-trusted-runs env LD_PRELOAD=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_eq rt-preload-trusted-content "the runtime secret" "$BF_OUT"
expect_not_contains rt-preload-not-loaded "PRELOADED" "$BF_ERR"
expect_ok rt-audit-trusted-runs env LD_AUDIT=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
# Ignored means not even tried: no constructor ran and the loader said nothing about it.
case "$BF_ERR" in
  *PRELOADED* | *"audit interface"*) fail rt-audit-not-loaded "the loader acted on LD_AUDIT: $BF_ERR" ;;
  *) pass rt-audit-not-loaded "LD_AUDIT ignored" ;;
esac
# The same attack on programs that hold no grant: loaded (and the secret stays refused to it).
expect_ok rt-preload-elsewhere-loads env LD_PRELOAD=$EVIL /usr/local/bin/restic /dev/null
expect_contains rt-preload-elsewhere-loaded "PRELOADED: Operation not permitted" "$BF_ERR"
expect_ok rt-audit-elsewhere-loads env LD_AUDIT=$EVIL /usr/local/bin/restic /dev/null
# The loader acts on it here: it runs the constructor, or (in this initramfs, where the audit
# namespace cannot load the library's own dependencies) says why it could not.
case "$BF_ERR" in
  *"PRELOADED: Operation not permitted"* | *"evil.so' cannot be loaded as audit interface"*) pass rt-audit-elsewhere-loaded "$BF_ERR" ;;
  *) fail rt-audit-elsewhere-loaded "the loader ignored LD_AUDIT: $BF_ERR" ;;
esac
# Behind 3000 other variables (the environment is not read: it cannot be outrun).
set -- $(i=0; while [ $i -lt 3000 ]; do echo "V$i=padding-padding-padding-$i"; i=$((i + 1)); done)
expect_ok rt-preload-deep-runs env "$@" LD_PRELOAD=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_not_contains rt-preload-deep-not-loaded "PRELOADED" "$BF_ERR"
expect_ok rt-preload-deep-elsewhere env "$@" LD_PRELOAD=$EVIL /usr/local/bin/restic /dev/null
expect_contains rt-preload-deep-elsewhere-loaded "PRELOADED" "$BF_ERR"
set --
# A child that inherits the launcher's grant is protected as the launcher is.
expect_ok rt-inherited-child-reads /usr/local/bin/launcher LD_PRELOAD=$EVIL /opt/tools/reach plain /srv/runtime/secret.txt
expect_eq rt-inherited-child-content "the runtime secret" "$BF_OUT"
expect_not_contains rt-inherited-child-not-loaded "PRELOADED" "$BF_ERR"

# Started traced: refused for the trusted program, allowed for another.
bf_capture /opt/tools/strike traceme-exec /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_contains rt-traced-exec-refused "Operation not permitted" "$BF_ERR"
expect_not_contains rt-traced-exec-no-secret "the runtime secret" "$BF_OUT"
bf_capture /opt/tools/strike traceme-exec /usr/local/bin/restic /dev/null
expect_eq rt-traced-exec-elsewhere "exit 0" "$BF_OUT"

# Attaching to a running trusted program, or reading its memory: refused; another program: allowed.
mkfifo /tmp/rt-hold
/usr/local/bin/trusted-reader /tmp/rt-hold >/dev/null &
TRUSTED=$!
BF_BG_PIDS="$BF_BG_PIDS $TRUSTED"
exec 7>/tmp/rt-hold # the reader blocks reading the fifo until it is closed
sleep 0.3
expect_fail_eperm rt-ptrace-attach-refused /opt/tools/strike ptrace "$TRUSTED"
expect_fail_eperm rt-ptrace-seize-refused /opt/tools/strike seize "$TRUSTED"
expect_fail_eperm rt-vmread-refused /opt/tools/strike vmread "$TRUSTED"
expect_fail_eperm rt-pidfd-getfd-refused /opt/tools/reach getfd "$TRUSTED" 0
bf_capture cat "/proc/$TRUSTED/mem"
[ "$BF_STATUS" -ne 0 ] && pass rt-proc-mem-refused "$BF_ERR" || fail rt-proc-mem-refused "/proc/$TRUSTED/mem opened"
expect_ok rt-proc-status-readable grep -q trusted-reader "/proc/$TRUSTED/status"
CHILD=$(/opt/tools/strike child)
BF_BG_PIDS="$BF_BG_PIDS $CHILD"
expect_ok rt-ptrace-other-works /opt/tools/strike ptrace "$CHILD"
expect_ok rt-vmread-other-works /opt/tools/strike vmread "$CHILD"
exec 7>&-
kill "$TRUSTED" "$CHILD" 2>/dev/null # processes started since hold the fifo open too
wait "$TRUSTED" 2>/dev/null

# The loader's preload list, which it honours in secure mode too: nobody creates it; /etc stays open.
expect_fail_eperm rt-preload-list-create-refused sh -c "echo $EVIL > /etc/ld.so.preload"
echo "$EVIL" >/tmp/preload-list
expect_fail_eperm rt-preload-list-symlink-refused ln -s /tmp/preload-list /etc/ld.so.preload
expect_status rt-preload-list-rename-refused 1 mv /tmp/preload-list /etc/ld.so.preload
expect_status rt-preload-list-absent 1 test -e /etc/ld.so.preload
expect_ok rt-etc-other-entry-works sh -c "echo ok > /etc/bomfather-test && rm /etc/bomfather-test"
# The loader run by hand with --preload: the program runs as the loader, which holds no grant.
bf_capture /lib64/ld-linux-x86-64.so.2 --preload "$EVIL" /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_not_contains rt-loader-preload-no-secret "the runtime secret" "$BF_OUT $BF_ERR"
expect_contains rt-loader-preload-refused "Operation not permitted" "$BF_ERR"

sleep 0.5
ev=$(grep '"kind":"runtime"' /tmp/agent.out | grep '"target":"/etc/ld.so.preload"' | head -n1)
expect_contains rt-event-preload-list '"rule":"builtin: the loader'"'"'s preload list"' "$ev"
ev=$(grep '"kind":"runtime"' /tmp/agent.out | grep '"op":"ptrace"' | head -n1)
expect_contains rt-event-ptrace-rule '"rule":"/policies/runtime.yaml:6"' "$ev"
expect_contains rt-event-ptrace-target "\"target\":\"pid $TRUSTED\"" "$ev"
ev=$(grep '"op":"traced_exec"' /tmp/agent.out | head -n1)
expect_contains rt-event-traced-exec '"identity":"/usr/local/bin/trusted-reader"' "$ev"

stop_agent
show_file /tmp/agent.out

# The runtime section: ptrace protects what it names (a program without grants too) and lets its
# tracers attach; fileless programs are refused to all but the executables it allows.
start_agent rt-section-agent-starts /policies/runtime-section.yaml || exit 0
mkfifo /tmp/rt-hold2
/usr/local/bin/restic /tmp/rt-hold2 >/dev/null &
RESTIC=$!
/usr/local/bin/trusted-reader /tmp/rt-hold >/dev/null &
TRUSTED=$!
BF_BG_PIDS="$BF_BG_PIDS $RESTIC $TRUSTED"
exec 7>/tmp/rt-hold 8>/tmp/rt-hold2
sleep 0.3
expect_fail_eperm rt-section-ptrace-named-refused /opt/tools/strike ptrace "$RESTIC"
expect_fail_eperm rt-section-ptrace-granted-refused /opt/tools/strike ptrace "$TRUSTED"
expect_ok rt-section-tracer-attaches /usr/local/bin/debugger ptrace "$TRUSTED"
expect_ok rt-section-tracer-seizes /usr/local/bin/debugger seize "$RESTIC"
exec 7>&- 8>&-
kill "$TRUSTED" "$RESTIC" 2>/dev/null
expect_fail_eperm rt-fileless-memfd-refused /opt/tools/reach memfd-exec /bin/busybox true
expect_fail_eperm rt-fileless-tmpfile-refused /opt/tools/reach tmpfile-exec /bin/busybox true
expect_fail_eperm rt-fileless-deleted-refused /opt/tools/reach deleted-exec /bin/busybox true
expect_ok rt-fileless-allowed-runner /usr/local/bin/runner memfd-exec /bin/busybox true
expect_ok rt-fileless-named-files-run /opt/tools/reach plain /dev/null
sleep 0.5
ev=$(grep '"op":"fileless_exec"' /tmp/agent.out | head -n1)
expect_contains rt-event-fileless '"detail":"a memfd_create file"' "$ev"
expect_contains rt-event-fileless-rule '"rule":"/policies/runtime-section.yaml:22"' "$ev"
stop_agent

# runtime.environment, action deny: started with a listed variable, a protected program is killed
# before it runs (status 137), through execve and execveat, wherever the variable sits.
start_agent rt-env-agent-starts /policies/runtime-env.yaml || exit 0
expect_status rt-env-preload-killed 137 env LD_PRELOAD=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_not_contains rt-env-preload-no-secret "the runtime secret" "$BF_OUT"
expect_status rt-env-library-path-killed 137 env LD_LIBRARY_PATH=/tmp /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_status rt-env-tunables-killed 137 env GLIBC_TUNABLES=glibc.malloc.check=3 /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_status rt-env-audit-killed 137 env LD_AUDIT=$EVIL /usr/local/bin/restic /dev/null
expect_status rt-env-node-options-killed 137 env NODE_OPTIONS=--require=/tmp/x.js /usr/local/bin/restic /dev/null
set -- $(i=0; while [ $i -lt 3000 ]; do echo "V$i=padding-padding-padding-$i"; i=$((i + 1)); done)
expect_status rt-env-deep-killed 137 env "$@" LD_PRELOAD=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_ok rt-env-deep-clean-runs env "$@" /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_eq rt-env-deep-clean-content "the runtime secret" "$BF_OUT"
set --
expect_status rt-env-execveat-killed 137 env LD_PRELOAD=$EVIL /opt/tools/reach fexec /usr/local/bin/trusted-reader trusted-reader /srv/runtime/secret.txt
expect_ok rt-env-execveat-clean-runs /opt/tools/reach fexec /usr/local/bin/trusted-reader trusted-reader /srv/runtime/secret.txt
expect_eq rt-env-execveat-clean-content "the runtime secret" "$BF_OUT"
expect_ok rt-env-clean-restic-runs /usr/local/bin/restic /dev/null
expect_ok rt-env-unlisted-program-runs env LD_PRELOAD=$EVIL NODE_OPTIONS=x /opt/tools/reach plain /dev/null
expect_contains rt-env-unlisted-program-loaded "PRELOADED" "$BF_ERR"
sleep 0.5
ev=$(grep '"op":"environment"' /tmp/agent.out | head -n1)
expect_contains rt-event-env-variable '"target":"LD_PRELOAD"' "$ev"
expect_contains rt-event-env-rule '"rule":"/policies/runtime-env.yaml:6"' "$ev"
stop_agent

# Monitor mode: every runtime defense reports and lets the attempt through.
start_agent rt-monitor-agent-starts /policies/runtime-monitor.yaml || exit 0
expect_ok rt-monitor-env-runs env LD_PRELOAD=$EVIL /usr/local/bin/trusted-reader /srv/runtime/secret.txt
expect_ok rt-monitor-fileless-runs /opt/tools/reach memfd-exec /bin/busybox true
/usr/local/bin/trusted-reader /tmp/rt-hold >/dev/null &
TRUSTED=$!
BF_BG_PIDS="$BF_BG_PIDS $TRUSTED"
exec 7>/tmp/rt-hold
sleep 0.3
expect_ok rt-monitor-ptrace-attaches /opt/tools/strike ptrace "$TRUSTED"
exec 7>&-
kill "$TRUSTED" 2>/dev/null
sleep 0.5
expect_contains rt-monitor-env-event '"action":"monitor"' "$(grep '"op":"environment"' /tmp/agent.out | head -n1)"
expect_contains rt-monitor-fileless-event '"action":"monitor"' "$(grep '"op":"fileless_exec"' /tmp/agent.out | head -n1)"
expect_contains rt-monitor-ptrace-event '"action":"monitor"' "$(grep '"op":"ptrace"' /tmp/agent.out | head -n1)"
stop_agent
