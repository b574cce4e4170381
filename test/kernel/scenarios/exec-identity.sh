# Executable identity that cannot be borrowed or altered (issue 10):
# - identity is decided when the exec is committed, with the final file: a "#!" script's named
#   interpreter acts as itself, never as the named launcher that ran the script; an interpreter
#   the policy does not name inherits the launcher's identity as any child does;
# - events name the identity judged beside the process's executable;
# - named executables are immutable: written, overwritten in place, truncated, chmod-ed, renamed
#   over, removed, given xattrs: refused to root; a program a file rule names may update one, and
#   the new file holds no grant until a signed reload;
# - xattrs, ACLs and file flags of a protected file need write access.
. /scenarios/lib.sh

KEY=/opt/keys/test.pem
mkdir -p /srv/exec
for f in launcher interp data tool; do echo "$f secret" >/srv/exec/$f.txt; done
printf '#!/opt/named/sh\nread l < "$1" && echo "$l"\n' >/srv/exec/by-named.sh
printf '#!/bin/sh\nread l < "$1" && echo "$l"\n' >/srv/exec/by-sh.sh
chmod 755 /srv/exec/by-named.sh /srv/exec/by-sh.sh
cp /bin/busybox /tmp/other-program

start_agent exec-agent-starts /policies/exec-identity.yaml || exit 1
expect_contains exec-start-says-immutable "made immutable" "$(cat /tmp/agent.err 2>/dev/null; cat /tmp/agent.out)"
expect_contains exec-start-names-interp "/opt/named/sh" "$(grep 'made immutable' /tmp/agent.err /tmp/agent.out 2>/dev/null)"
expect_contains exec-start-names-updatable "/usr/local/bin/tool (by what line" "$(cat /tmp/agent.err /tmp/agent.out 2>/dev/null)"

# "#!" through a named launcher: the named interpreter acts as itself.
expect_ok exec-hashbang-named-interp-own-grant /usr/local/bin/launcher /srv/exec/by-named.sh /srv/exec/interp.txt
expect_eq exec-hashbang-named-interp-content "interp secret" "$BF_OUT"
expect_fail_eperm exec-hashbang-named-interp-not-launcher /usr/local/bin/launcher /srv/exec/by-named.sh /srv/exec/launcher.txt
# An interpreter the policy does not name inherits the launcher, as any child does.
expect_ok exec-hashbang-unnamed-interp-inherits /usr/local/bin/launcher /srv/exec/by-sh.sh /srv/exec/launcher.txt
expect_eq exec-hashbang-unnamed-interp-content "launcher secret" "$BF_OUT"
expect_fail_eperm exec-hashbang-unnamed-interp-no-other-grant /usr/local/bin/launcher /srv/exec/by-sh.sh /srv/exec/interp.txt
# Started directly: the same.
expect_ok exec-hashbang-direct-named-interp /srv/exec/by-named.sh /srv/exec/interp.txt
expect_fail_eperm exec-hashbang-direct-unnamed-denied /srv/exec/by-sh.sh /srv/exec/interp.txt

# Named executables are immutable, for root too; running and reading them stays open.
expect_fail_eperm exec-overwrite-in-place-refused sh -c 'cat /tmp/other-program > /opt/named/sh'
expect_fail_eperm exec-append-refused sh -c 'echo x >> /usr/local/bin/launcher'
expect_fail_eperm exec-truncate-refused /opt/tools/reach truncate /opt/named/sh
expect_fail_eperm exec-chmod-refused /opt/tools/reach chmod /opt/named/sh
expect_fail_eperm exec-setxattr-on-binary-refused /opt/tools/reach setxattr /opt/named/sh trusted.planted
cp /bin/busybox /opt/named/sh.new
expect_fail_eperm exec-rename-over-refused mv /opt/named/sh.new /opt/named/sh
expect_fail_eperm exec-remove-refused rm -f /opt/named/sh
# ln -f removes the target first: refused, so the link fails (busybox reports the EEXIST).
expect_status exec-link-over-refused 1 ln -f /tmp/other-program /opt/named/sh
expect_ok exec-named-still-runs /opt/named/sh -c 'echo runs'
expect_eq exec-named-still-runs-output runs "$BF_OUT"
expect_ok exec-named-readable cmp /opt/named/sh /bin/busybox
expect_ok exec-interp-keeps-grant-after-attempts /srv/exec/by-named.sh /srv/exec/interp.txt

# xattrs, ACLs and file flags of a protected file: write access needed, granted where the policy says.
expect_fail_eperm exec-setxattr-refused /opt/tools/reach setxattr /srv/exec/data.txt trusted.planted
expect_ok exec-setxattr-by-writer /usr/local/bin/launcher /opt/tools/reach setxattr /srv/exec/data.txt trusted.planted
expect_fail_eperm exec-removexattr-refused /opt/tools/reach removexattr /srv/exec/data.txt trusted.planted
expect_ok exec-removexattr-by-writer /usr/local/bin/launcher /opt/tools/reach removexattr /srv/exec/data.txt trusted.planted
expect_fail_eperm exec-setacl-refused /opt/tools/reach setacl /srv/exec/data.txt
expect_ok exec-setacl-by-writer /usr/local/bin/launcher /opt/tools/reach setacl /srv/exec/data.txt
# Through a descriptor opened for reading (which a named executable's file allows to all).
expect_fail_eperm exec-chattr-refused /opt/tools/reach chattr-append /opt/named/sh
expect_ok exec-chattr-by-writer /usr/local/bin/launcher /opt/tools/reach chattr-append /srv/exec/data.txt
expect_fail_eperm exec-setxattr-reader-only-refused /usr/local/bin/launcher /opt/tools/reach setxattr /srv/exec/launcher.txt trusted.planted
expect_ok exec-other-file-xattr-works /opt/tools/reach setxattr /tmp/other-program trusted.planted

# Updating a named program: only the executable a file rule names may, and the new file holds no
# grant until a signed reload names it.
expect_ok exec-tool-reads /usr/local/bin/tool /srv/exec/tool.txt
expect_fail_eperm exec-tool-overwrite-refused sh -c 'cat /tmp/other-program > /usr/local/bin/tool'
cp /usr/local/bin/tool /usr/local/bin/tool.new
expect_fail_eperm exec-tool-rename-by-root-refused mv /usr/local/bin/tool.new /usr/local/bin/tool
expect_ok exec-tool-updated-by-updater /usr/local/bin/updater mv /usr/local/bin/tool.new /usr/local/bin/tool
expect_fail_eperm exec-updated-tool-holds-no-grant /usr/local/bin/tool /srv/exec/tool.txt
expect_fail_eperm exec-updated-tool-still-guarded sh -c 'cat /tmp/other-program > /usr/local/bin/tool'
expect_ok exec-signed-reload bomfather reload --policy /policies/exec-identity.yaml --sign "$KEY"
expect_ok exec-reloaded-tool-reads /usr/local/bin/tool /srv/exec/tool.txt
expect_eq exec-reloaded-tool-content "tool secret" "$BF_OUT"

sleep 0.5
ev=$(grep '"kind":"file"' /tmp/agent.out | grep '"target":"/srv/exec/launcher.txt"' | grep '"exe":"/opt/named/sh"' | head -n1)
expect_contains exec-event-identity-named-interp '"identity":"/opt/named/sh"' "$ev"
ev=$(grep '"kind":"file"' /tmp/agent.out | grep '"target":"/srv/exec/interp.txt"' | grep '"identity":"/usr/local/bin/launcher"' | head -n1)
expect_contains exec-event-identity-inherited '"exe":"/bin/busybox"' "$ev"
ev=$(grep '"op":"xattr"' /tmp/agent.out | grep '/srv/exec/data.txt' | head -n1)
expect_contains exec-event-xattr '"action":"deny"' "$ev"
ev=$(grep '"op":"ioctl"' /tmp/agent.out | head -n1)
expect_contains exec-event-ioctl '"detail":"FS_IOC_SETFLAGS"' "$ev"
expect_contains exec-event-ioctl-target '"target":"/opt/named/sh"' "$ev"
ev=$(grep '"target":"/opt/named/sh"' /tmp/agent.out | grep '"op":"open"' | head -n1)
expect_contains exec-event-immutable-rule '"rule":"/policies/exec-identity.yaml:9"' "$ev"

stop_agent
show_file /tmp/agent.out
