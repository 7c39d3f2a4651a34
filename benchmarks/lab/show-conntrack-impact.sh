#!/usr/bin/env bash
# Issue 16's acceptance: does `ferry show conntrack -p tcp --dport 80 -o json` in a loop cost a parallel iperf3
# anything? On the lab (ferry lab up), ROUNDS times: iperf3 p11 -> p21 for SECONDS alone, then the same while
# node1 is asked for its filtered conntrack table (the request `ferry show conntrack -p tcp --dport 80 -o json`
# sends, every answer page followed) back to back on one API connection — a client in python3, so that a JVM
# starting per call does not take the 2 cores from iperf3 and hide what the node's own walk costs. Prints Gbit/s
# of each and the calls made. Root; traffic only inside the lab's namespaces; the lab is removed on exit.
#   benchmarks/lab/show-conntrack-impact.sh [ROUNDS=3] [SECONDS=10] [INTERVAL=0] [REQUEST=conntrack]
# INTERVAL (s) paces the calls (0: back to back, the worst case; 0.1: ten a second, an operator's watch loop).
# REQUEST=health asks `health` instead, which the API thread answers without the worker: the control that tells
# the cost of an API round trip from the cost of the conntrack walk on the forwarding thread.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
rounds=${1:-3}
secs=${2:-10}
interval=${3:-0}
request=${4:-conntrack}
[[ "$request" == conntrack || "$request" == health ]] || { echo "REQUEST is conntrack or health" >&2; exit 2; }
ferry=./ferry
trap '$ferry lab down >/dev/null 2>&1 || true' EXIT
$ferry lab up >/dev/null
sock=$(find /run/ferry-lab -name '*.sock' -path '*node1*' | head -1)
[[ -S "$sock" ]] || { echo "node1's API socket not found under /run/ferry-lab" >&2; exit 1; }
p21=10.244.2.2
gbps() { python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
iperf() { timeout $((secs + 15)) ip netns exec ferry-pod-p11 iperf3 -c "$p21" -p 5201 -t "$secs" -J; }
# one warm-up run: JIT and ARP
iperf >/dev/null
echo "round alone_gbps with_${request}_gbps ${request}_calls"
for r in $(seq "$rounds"); do
  alone=$(iperf | gbps)
  out=$(mktemp)
  iperf >"$out" &
  ip=$!
  calls=$(python3 - "$sock" "$ip" "$interval" "$request" <<'PY'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
pid, calls = int(sys.argv[2]), 0
def alive():
    try: os.kill(pid, 0); return True
    except OSError: return False
while alive():
    nxt = 0
    while nxt >= 0:   # the CLI's request: list, proto 6, dport 80, continued from "next"
        req = {"v": 1, "op": "health"} if sys.argv[4] == "health" else \
            {"v": 1, "op": "conntrack", "action": "list", "filter": {"proto": 6, "dport": 80}, "from": nxt}
        f.write((json.dumps(req) + "\n").encode()); f.flush()
        a = json.loads(f.readline())
        if not a.get("ok", False): sys.exit("refused: " + str(a))
        nxt = a.get("next", -1)
    calls += 1
    time.sleep(float(sys.argv[3]))
print(calls)
PY
)
  wait "$ip"
  echo "$r $alone $(gbps <"$out") $calls"
  rm -f "$out"
done
