# Policy inheritance: the children of a named executable act with its grants when inherit is on
# (through forks and further execs), not when it is off; a named child acts as itself.
. /scenarios/lib.sh

mkdir -p /srv/inherit
echo "inherited secret" >/srv/inherit/secret.txt
echo "reader only" >/srv/inherit/reader-only.txt

start_agent inherit-agent-starts /policies/inheritance.yaml || exit 1

expect_ok inherit-child-reads /usr/local/bin/launcher cat /srv/inherit/secret.txt
expect_eq inherit-child-content "inherited secret" "$BF_OUT"
expect_ok inherit-grandchild-through-shell-reads /usr/local/bin/launcher sh -c 'cat /srv/inherit/secret.txt | cat'
expect_eq inherit-grandchild-content "inherited secret" "$BF_OUT"
expect_fail_eperm inherit-off-child-denied /usr/local/bin/launcher-no-inherit cat /srv/inherit/secret.txt
expect_fail_eperm inherit-named-child-acts-as-itself /usr/local/bin/launcher /usr/local/bin/trusted-reader /srv/inherit/secret.txt
expect_ok inherit-named-child-keeps-own-grants /usr/local/bin/launcher /usr/local/bin/trusted-reader /srv/inherit/reader-only.txt
expect_fail_eperm inherit-no-grant-no-inheritance /usr/local/bin/launcher cat /srv/inherit/reader-only.txt
expect_fail_eperm inherit-unrelated-process-denied cat /srv/inherit/secret.txt
# A child of the inheriting child that runs a non-named program after a named one in between
# does not regain the launcher's grant.
expect_fail_eperm inherit-chain-broken-by-named /usr/local/bin/launcher /usr/local/bin/launcher-no-inherit cat /srv/inherit/secret.txt

stop_agent
show_file /tmp/agent.out
