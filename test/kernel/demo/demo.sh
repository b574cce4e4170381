# ./dev demo: the agent at work on policies/demo.yaml, narrated.
. /scenarios/lib.sh

say() { echo; echo ">>> $*"; }

mkdir -p /srv/demo
echo "s3cr3t: the demo secret" >/srv/demo/secret.txt
chmod 0644 /srv/demo/secret.txt

say "The policy (policies/demo.yaml):"
grep -v '^ *#' /policies/demo.yaml | grep -v '^ *$'

say "Without the agent, root reads the secret:"
echo "# cat /srv/demo/secret.txt"; cat /srv/demo/secret.txt

say "Start the agent:  bomfather --policy policies/demo.yaml"
bomfather --policy /policies/demo.yaml >/tmp/events.jsonl 2>/tmp/agent.err </dev/null &
AGENT=$!
BF_BG_PIDS="$BF_BG_PIDS $AGENT"
wait_for_line /tmp/agent.err "^bomfather: enforcing" 60 $AGENT || { cat /tmp/agent.err; fail demo "the agent did not start"; exit 1; }
cat /tmp/agent.err

say "The trusted executable reads the secret:"
echo "# /usr/local/bin/trusted-reader /srv/demo/secret.txt"
/usr/local/bin/trusted-reader /srv/demo/secret.txt

say "cat, run by root, is denied:"
echo "# cat /srv/demo/secret.txt"
cat /srv/demo/secret.txt

say "So is a copy of the trusted binary:"
cp /usr/local/bin/trusted-reader /tmp/imposter
echo "# /tmp/imposter /srv/demo/secret.txt"
/tmp/imposter /srv/demo/secret.txt

sleep 0.3
say "The events (one JSON line each, on the agent's stdout):"
cat /tmp/events.jsonl

stop_agent
if [ "$(grep -c '"action":"deny"' /tmp/events.jsonl)" -ge 2 ]; then pass demo "denials logged"; else fail demo "expected two denials"; fi
