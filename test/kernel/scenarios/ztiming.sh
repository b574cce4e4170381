. /scenarios/lib.sh
KEY=/opt/keys/test.pem
mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
cp /policies/control.yaml /tmp/first.yaml
start_agent zt-agent-starts /policies/control.yaml || exit 1
i=0
while [ $i -lt 4 ]; do
  t0=$(cut -d' ' -f1 /proc/uptime)
  bf_capture bomfather reload --policy /tmp/first.yaml --sign "$KEY"
  t1=$(cut -d' ' -f1 /proc/uptime)
  fail zt-reload-$i "total $(echo "$t0 $t1" | awk '{print $2-$1}') status $BF_STATUS $(grep reloaded /tmp/agent.err | tail -1)"
  i=$((i + 1))
done
fail zt-start "$(grep -m1 enforcing /tmp/agent.err)"
t0=$(cut -d' ' -f1 /proc/uptime); bomfather --version >/dev/null 2>&1; t1=$(cut -d' ' -f1 /proc/uptime)
fail zt-version "$(echo "$t0 $t1" | awk '{print $2-$1}')"
stop_agent
