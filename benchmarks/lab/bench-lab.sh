#!/usr/bin/env bash
# ferry lab benchmark: the same two-node network-namespace topology twice on this machine, once with the kernel
# (veth + bridge + flannel-style VXLAN + kube-proxy-style iptables) and once with ferry (`ferry lab up`), and the
# same measurements against both. See benchmarks/lab/README.md.
#
#   bench-lab.sh up kernel            build the kernel topology and start the pod servers (stays up)
#   bench-lab.sh down                 stop what this script started (by PID) and delete ferry-bench-* namespaces
#   bench-lab.sh run [--smoke] [--metric NAME[,NAME]] [--runs 3] [--duration 10] [--out DIR] [--png FILE]
#   bench-lab.sh metrics              list the metrics
#
# Rules it keeps: traffic only inside the ferry-bench-* namespaces it creates, links named fb-*, every process
# it starts is recorded by PID and stopped by PID, every wait is bounded, and everything is deleted by name on
# exit, failure or Ctrl-C.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
LABTOOL=("$PY" "$HERE/labtool.py")
eval "$("${LABTOOL[@]}" env)"
P="$LAB_PREFIX"
ALL_NS=(node1 node2 ext "${LAB_PODS[@]}")
STATE="${FERRY_BENCH_STATE:-/run/ferry-bench}"
PIDFILE="$STATE/pids"
TOPOFILE="$STATE/topology"
FERRY="${FERRY_CMD:-$ROOT/ferry}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-16}"
KEEP_UP=0
WORK=""
OFFLOADS=""
SERVICES=""

log() { printf '[bench-lab] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
nsx() { local n="$1"; shift; ip netns exec "$P$n" "$@"; }

# --------------------------------------------------------------------------------------------------------------
# processes: spawn records "pid tag netns-inode"; stop_all kills only PIDs that are still in our namespaces
# --------------------------------------------------------------------------------------------------------------

SPAWNED=0
spawn() {
  local tag="$1" n="$2" logf="$3"; shift 3
  ip netns exec "$P$n" "$@" >"$logf" 2>&1 &
  SPAWNED=$!
  echo "$SPAWNED $tag $(stat -L -c %i "/run/netns/$P$n")" >>"$PIDFILE"
}

ours() {   # ours PID INODE: the PID is alive and still lives in the namespace we started it in
  [[ -e "/proc/$1" ]] && [[ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null || true)" == "$2" ]]
}

descendants() {   # descendants PID: children first-level and below (socat forks one child per UDP peer)
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do echo "$c"; descendants "$c"; done
}

stop_pid() {   # stop_pid PID INODE: TERM the process and its descendants, KILL after 3 s
  local pid="$1" inode="$2" i p alive
  ours "$pid" "$inode" || return 0
  local procs=("$pid")
  for p in $(descendants "$pid"); do procs+=("$p"); done
  for p in "${procs[@]}"; do ours "$p" "$inode" && kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 1 30); do
    alive=0
    for p in "${procs[@]}"; do ours "$p" "$inode" && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for p in "${procs[@]}"; do ours "$p" "$inode" && kill -KILL "$p" 2>/dev/null; done
  wait "$pid" 2>/dev/null || true
}

wait_pid() {   # wait_pid PID SECONDS: bounded wait for a process we spawned to finish on its own
  local pid="$1" secs="$2" i
  for i in $(seq 1 $((secs * 10))); do [[ -e "/proc/$pid" ]] || break; sleep 0.1; done
}

stop_all() {
  [[ -f "$PIDFILE" ]] || return 0
  local pid tag inode
  while read -r pid tag inode; do
    [[ -n "$pid" ]] && stop_pid "$pid" "$inode"
  done <"$PIDFILE"
  : >"$PIDFILE"
}

# --------------------------------------------------------------------------------------------------------------
# topology: down (idempotent, by name) and the kernel side
# --------------------------------------------------------------------------------------------------------------

our_namespaces() {
  { for n in "${ALL_NS[@]}"; do echo "$P$n"; done; ip netns list | awk '{print $1}' | grep "^$P" || true; } | sort -u
}

down() {
  mkdir -p "$STATE"
  stop_all
  if [[ -f "$TOPOFILE" && "$(cat "$TOPOFILE")" == ferry ]]; then
    timeout 60 "$FERRY" lab down --prefix "$P" >&2 || log "ferry lab down failed; deleting namespaces by name"
  fi
  local ns left
  for ns in $(our_namespaces); do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      left="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
      [[ -n "$left" ]] && log "note: processes not started by this script remain in $ns: $left"
      ip netns del "$ns"
    fi
  done
  rm -f "$TOPOFILE"
  SERVICES=""
  OFFLOADS=""
}

kernel_node() {   # kernel_node NODE OTHER: cni0 bridge, flannel.1 VXLAN, routes, iptables for one node
  local n="$1" o="$2" v
  local ul gw cidr vtep mac oul ocidr ovtep omac
  v="LAB_${n^^}_UNDERLAY"; ul="${!v}"; v="LAB_${n^^}_GW"; gw="${!v}"; v="LAB_${n^^}_POD_CIDR"; cidr="${!v}"
  v="LAB_${n^^}_VTEP"; vtep="${!v}"; v="LAB_${n^^}_VTEP_MAC"; mac="${!v}"
  v="LAB_${o^^}_UNDERLAY"; oul="${!v}"; v="LAB_${o^^}_POD_CIDR"; ocidr="${!v}"
  v="LAB_${o^^}_VTEP"; ovtep="${!v}"; v="LAB_${o^^}_VTEP_MAC"; omac="${!v}"
  nsx "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  ip -n "$P$n" addr add "$ul/24" dev fb-ul
  ip -n "$P$n" link set fb-ul up
  ip -n "$P$n" link add fb-cni0 type bridge
  ip -n "$P$n" link set fb-cni0 mtu 1450
  ip -n "$P$n" addr add "$gw/24" dev fb-cni0
  ip -n "$P$n" link set fb-cni0 up
  # flannel's vxlan backend: VNI 1, port 8472, no learning; static FDB and neighbour entry per remote node
  ip -n "$P$n" link add fb-flannel.1 type vxlan id "$LAB_VNI" local "$ul" dev fb-ul dstport "$LAB_VXLAN_PORT" \
    nolearning
  ip -n "$P$n" link set fb-flannel.1 address "$mac" mtu 1450
  ip -n "$P$n" addr add "$vtep/32" dev fb-flannel.1
  ip -n "$P$n" link set fb-flannel.1 up
  ip -n "$P$n" route add "$ocidr" via "$ovtep" dev fb-flannel.1 onlink
  ip -n "$P$n" neigh add "$ovtep" lladdr "$omac" dev fb-flannel.1 nud permanent
  bridge -n "$P$n" fdb append "$omac" dev fb-flannel.1 dst "$oul"
  "${LABTOOL[@]}" iptables --node "$n" --services base | nsx "$n" iptables-restore
}

kernel_pod() {   # kernel_pod POD: a veth into the node's cni0, like the bridge CNI plugin with hairpin mode
  local pod="$1" v node ip gw
  v="LAB_${pod^^}_NODE"; node="${!v}"; v="LAB_${pod^^}_IP"; ip="${!v}"; v="LAB_${node^^}_GW"; gw="${!v}"
  ip -n "$P$node" link add "fb-$pod" mtu 1450 type veth peer name fb-eth0 mtu 1450 netns "$P$pod"
  ip -n "$P$node" link set "fb-$pod" master fb-cni0 up
  bridge -n "$P$node" link set dev "fb-$pod" hairpin on
  ip -n "$P$pod" addr add "$ip/24" dev fb-eth0
  ip -n "$P$pod" link set fb-eth0 up
  ip -n "$P$pod" route add default via "$gw"
}

kernel_up() {
  local n
  log "kernel topology: namespaces ${P}{${ALL_NS[*]}}"
  for n in "${ALL_NS[@]}"; do
    ip netns add "$P$n"
    ip -n "$P$n" link set lo up
  done
  echo kernel >"$TOPOFILE"
  # underlay: one veth between the node namespaces (192.168.50.0/24 exists only in there)
  ip -n "${P}node1" link add fb-ul type veth peer name fb-ul netns "${P}node2"
  # ext sits behind node1
  ip -n "${P}node1" link add fb-ext type veth peer name fb-eth0 netns "${P}ext"
  ip -n "${P}node1" addr add "$LAB_EXT_GW/24" dev fb-ext
  ip -n "${P}node1" link set fb-ext up
  ip -n "${P}ext" addr add "$LAB_EXT_IP/24" dev fb-eth0
  ip -n "${P}ext" link set fb-eth0 up
  ip -n "${P}ext" route add default via "$LAB_EXT_GW"
  kernel_node node1 node2
  kernel_node node2 node1
  ip -n "${P}node2" route add "$LAB_EXT_CIDR" via "$LAB_NODE1_UNDERLAY"
  for n in "${LAB_PODS[@]}"; do kernel_pod "$n"; done
  SERVICES=base
  OFFLOADS=on
}

# --------------------------------------------------------------------------------------------------------------
# ferry side: the plug-in point (contract in README.md, "The ferry side")
# --------------------------------------------------------------------------------------------------------------

FERRY_REASON=""
ferry_available() {
  case "${FERRY_LAB:-auto}" in
    off) FERRY_REASON="disabled with FERRY_LAB=off"; return 1 ;;
    on) ;;
    *) if [[ ! -f "$ROOT/cli/target/ferry.jar" ]]; then
         FERRY_REASON="ferry lab topology not available: cli/target/ferry.jar is not built"; return 1
       fi ;;
  esac
  if ! timeout 120 "$FERRY" lab up --help >/dev/null 2>&1; then
    FERRY_REASON="ferry lab topology not available"
    return 1
  fi
}

ferry_up() {
  "${LABTOOL[@]}" manifests --services base --out "$WORK/services-base.yaml"
  echo ferry >"$TOPOFILE"
  # LAB_WORKERS: the ferry nodes' forwarding threads (node.yaml workers:, written by ferry lab up); unset, the
  # node's default (its CPUs minus one)
  FERRY_LAB_WORKERS="${LAB_WORKERS:-${FERRY_LAB_WORKERS:-}}" \
    timeout 120 "$FERRY" lab up --prefix "$P" --manifests "$WORK/services-base.yaml" >&2 \
    || die "ferry lab up --prefix $P failed"
  local n
  for n in "${ALL_NS[@]}"; do
    ip netns list | awk '{print $1}' | grep -qx "$P$n" || die "ferry lab up did not create namespace $P$n"
  done
  SERVICES=base
  OFFLOADS=on
}

# --------------------------------------------------------------------------------------------------------------
# knobs shared by both topologies
# --------------------------------------------------------------------------------------------------------------

set_offloads() {   # set_offloads on|off on every device in every lab namespace (fixed features stay as they are)
  local want="$1" ns dev
  [[ "$OFFLOADS" == "$want" ]] && return 0
  for ns in $(our_namespaces); do
    for dev in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
      [[ "$dev" == lo ]] && continue
      ip netns exec "$ns" ethtool -K "$dev" tso "$want" gso "$want" gro "$want" tx "$want" >/dev/null 2>&1 || true
    done
  done
  local tso pdev
  # the pod's device is found by its address: fb-eth0 on the kernel side, whatever ferry's CNI names it
  pdev="$(ip -n "${P}p11" -o addr show to "$LAB_P11_IP/32" | awk '{print $2}' | head -1)"
  tso="$(nsx p11 ethtool -k "$pdev" | awk '/^tcp-segmentation-offload:/ {print $2}')"
  if [[ "$tso" != "$want" ]]; then
    # a ferry pod TAP without TSO (a node built without large buffers, or a TAP an older ferry created): the pod's
    # kernel segments and checksums before the TAP, so "offloads on" there means on for the kernel-side devices
    if [[ "$(cat "$TOPOFILE")" == ferry && "$want" == on \
          && "$(nsx p11 ethtool -i "$pdev" | awk '/^driver:/ {print $2}')" == tun ]]; then
      log "note: p11/$pdev is a ferry TAP without TSO; tso stays off on it"
    else
      die "offloads did not turn $want on p11/$pdev (tso is $tso)"
    fi
  fi
  OFFLOADS="$want"
  log "offloads $want on every lab device"
}

set_services() {   # set_services base|COUNT: kube-proxy rules (kernel) or tables (ferry) with that many Services
  local want="$1" n
  [[ "$SERVICES" == "$want" ]] && return 0
  if [[ "$(cat "$TOPOFILE")" == kernel ]]; then
    for n in "${LAB_NODES[@]}"; do
      "${LABTOOL[@]}" iptables --node "$n" --services "$want" | timeout 300 ip netns exec "$P$n" iptables-restore
    done
  else
    "${LABTOOL[@]}" manifests --services "$want" --out "$WORK/services-$want.yaml"
    timeout 300 "$FERRY" lab apply --prefix "$P" --manifests "$WORK/services-$want.yaml" >&2 \
      || die "ferry lab apply --prefix $P ($want Services) failed"
  fi
  SERVICES="$want"
  log "Services installed: $want"
}

flush_conntrack() {
  local n
  [[ "$(cat "$TOPOFILE")" == kernel ]] || return 0
  for n in "${LAB_NODES[@]}"; do nsx "$n" conntrack -F >/dev/null 2>&1 || true; done
}

start_servers() {
  local pod v ip
  for pod in p12 p21; do
    spawn "http-$pod" "$pod" "$WORK/http-$pod.log" "$PY" "$HERE/httpd.py" "$LAB_WEB_TARGET" "$pod"
    spawn "echo-$pod" "$pod" "$WORK/echo-$pod.log" socat -T 2 "UDP4-LISTEN:$LAB_ECHO_TARGET,fork,reuseaddr" PIPE
  done
  for pod in p11 p12 p21 ext; do
    # many short connections from one client: use the whole port range, reuse TIME_WAIT ports
    nsx "$pod" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
  done
  for pod in p12 p21; do
    v="LAB_${pod^^}_IP"; ip="${!v}"
    wait_http p11 "http://$ip:$LAB_WEB_TARGET/" || die "the HTTP server in $P$pod did not come up"
  done
}

wait_http() {   # wait_http NS URL: up to 5 s
  local i
  for i in $(seq 1 50); do
    nsx "$1" curl -s -o /dev/null -m 1 "$2" && return 0
    sleep 0.1
  done
  return 1
}

wait_listen() {   # wait_listen NS PORT: up to 5 s for a TCP listener
  local i
  for i in $(seq 1 50); do
    nsx "$1" ss -Htln "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

sanity() {
  nsx p11 ping -c 1 -W 2 "$LAB_P21_IP" >/dev/null || die "p11 cannot ping p21 across nodes"
  nsx p11 curl -s -m 3 "http://$LAB_WEB_VIP:$LAB_WEB_PORT/" | grep -q "hello from" \
    || die "p11 cannot reach the web ClusterIP"
  nsx ext curl -s -m 3 "http://$LAB_NODE1_UNDERLAY:$LAB_WEB_NODEPORT/" | grep -q "hello from" \
    || die "ext cannot reach the web NodePort"
  echo lab | nsx p11 timeout 5 socat -T 2 - "UDP4:$LAB_ECHO_VIP:$LAB_ECHO_PORT" | grep -q lab \
    || die "p11 gets no answer from the UDP echo ClusterIP"
  log "sanity: cross-node ping, ClusterIP HTTP, NodePort HTTP from ext, UDP echo ClusterIP all answer"
}

# --------------------------------------------------------------------------------------------------------------
# measurements: each writes one JSON line through labtool.py record
# --------------------------------------------------------------------------------------------------------------

IPERF_OMIT="${LAB_IPERF_OMIT:-2}"   # seconds of warm-up before each iperf3 measurement (both sides)

iperf_run() {   # iperf_run TOPO METRIC RUN SERVER_POD TARGET_IP DURATION [extra client args...]
  # the client runs in IPERF_CLIENT (default p11) and connects to IPERF_CONNECT_PORT (default the server's port)
  local topo="$1" metric="$2" run="$3" spod="$4" target="$5" dur="$6"; shift 6
  local cns="${IPERF_CLIENT:-p11}" cport="${IPERF_CONNECT_PORT:-$LAB_IPERF_PORT}"
  local d="$WORK/$topo-$metric-$run" spid
  mkdir -p "$d"
  spawn "iperf-$spod" "$spod" "$d/server.json" iperf3 -s -1 -J -p "$LAB_IPERF_PORT" --rcv-timeout 5000
  spid=$SPAWNED
  wait_listen "$spod" "$LAB_IPERF_PORT" || die "iperf3 server in $P$spod did not listen"
  # the first IPERF_OMIT seconds are a warm-up on both sides, left out of the figures (iperf3 --omit) and out of
  # the CPU account: TCP slow start, and a freshly started ferry node's JIT (a cold node gave 1.8 Gbit/s across
  # nodes where the same node warm gave 4.9-6.0)
  timeout $((dur + IPERF_OMIT + 20)) ip netns exec "$P$cns" iperf3 -c "$target" -p "$cport" -t "$dur" \
    -O "$IPERF_OMIT" -J --connect-timeout 3000 "$@" >"$d/client.json" &
  local cpid=$!
  sleep "$IPERF_OMIT"
  head -1 /proc/stat >"$d/cpu-before"
  wait "$cpid" || { log "iperf3 client failed: $(head -c 400 "$d/client.json")"; }
  head -1 /proc/stat >"$d/cpu-after"
  wait_pid "$spid" 10
  stop_pid "$spid" "$(stat -L -c %i "/run/netns/$P$spod")"
  "${LABTOOL[@]}" record --raw "$WORK/raw.jsonl" --topology "$topo" --metric "$metric" --run "$run" \
    --client "$d/client.json" --server "$d/server.json" --cpu-before "$d/cpu-before" --cpu-after "$d/cpu-after"
}

wrk_run() {   # wrk_run TOPO METRIC RUN CLIENT_NS URL DURATION close|keep
  local topo="$1" metric="$2" run="$3" cns="$4" url="$5" dur="$6" mode="$7"
  local d="$WORK/$topo-$metric-$run"
  local hdr=()
  [[ "$mode" == close ]] && hdr=(-H "Connection: close")
  mkdir -p "$d"
  flush_conntrack
  head -1 /proc/stat >"$d/cpu-before"
  timeout $((dur + 20)) ip netns exec "$P$cns" wrk -t 1 -c "$WRK_CONNECTIONS" -d "${dur}s" --timeout 2s \
    "${hdr[@]}" "$url" >"$d/wrk.txt" 2>&1 || log "wrk failed: $(head -c 400 "$d/wrk.txt")"
  head -1 /proc/stat >"$d/cpu-after"
  "${LABTOOL[@]}" record --raw "$WORK/raw.jsonl" --topology "$topo" --metric "$metric" --run "$run" \
    --client "$d/wrk.txt" --cpu-before "$d/cpu-before" --cpu-after "$d/cpu-after"
}

RR_PORT=11111   # sockperf server port for pod-IP RR; the ClusterIP RR reuses the iperf Service (5201 → p21 only)

ping_run() {   # ping_run TOPO METRIC RUN TARGET_IP DURATION idle|busy: 5/s or 200/s for DURATION seconds
  local topo="$1" metric="$2" run="$3" target="$4" dur="$5" load="$6"
  local d="$WORK/$topo-$metric-$run" interval count
  mkdir -p "$d"
  if [[ "$load" == idle ]]; then interval=0.2; count=$((dur * 5)); else interval=0.005; count=$((dur * 200)); fi
  # the same warm-up on both sides, not measured: ARP, conntrack, and enough packets for a JIT to compile the
  # forwarding path (100 pings left ferry's graph in the interpreter: 1.9 ms idle p50 where a warm node gives 0.2)
  timeout 10 ip netns exec "${P}p11" ping -n -q -f -c 3000 -w 5 "$target" >/dev/null 2>&1 || true
  timeout $((dur + 15)) ip netns exec "${P}p11" ping -n -c "$count" -i "$interval" -W 1 "$target" >"$d/ping.txt" 2>&1 \
    || log "ping lost replies: $(tail -2 "$d/ping.txt" | head -1)"
  "${LABTOOL[@]}" record --raw "$WORK/raw.jsonl" --topology "$topo" --metric "$metric" --run "$run" \
    --client "$d/ping.txt"
}

rr_run() {   # rr_run TOPO METRIC RUN SERVER_POD TARGET_IP PORT DURATION [bulk]: sockperf ping-pong, 14-byte messages
  local topo="$1" metric="$2" run="$3" spod="$4" target="$5" port="$6" dur="$7" bulk="${8:-}"
  local d="$WORK/$topo-$metric-$run" spid ipid="" cpid="" inode server=()
  mkdir -p "$d"
  inode="$(stat -L -c %i "/run/netns/$P$spod")"
  spawn "sockperf-$spod" "$spod" "$d/sockperf-server.log" timeout $((dur + 60)) sockperf sr --tcp -i 0.0.0.0 -p "$port"
  spid=$SPAWNED
  wait_listen "$spod" "$port" || die "sockperf server in $P$spod did not listen on $port"
  if [[ -n "$bulk" ]]; then
    # one bulk TCP flow p11 → p21 on the same path, from before the RR starts until after it ends
    spawn "iperf-$spod" "$spod" "$d/iperf-server.json" iperf3 -s -1 -J -p "$LAB_IPERF_PORT" --rcv-timeout 5000
    ipid=$SPAWNED
    wait_listen "$spod" "$LAB_IPERF_PORT" || die "iperf3 server in $P$spod did not listen"
    spawn "iperf-client" p11 "$d/iperf-client.json" timeout $((dur + 20)) iperf3 -c "$target" -p "$LAB_IPERF_PORT" \
      -t $((dur + 2)) -J --connect-timeout 3000
    cpid=$SPAWNED
    sleep 1
    server=(--server "$d/iperf-client.json")
  fi
  timeout $((dur + 20)) ip netns exec "${P}p11" sockperf pp --tcp -i "$target" -p "$port" -t "$dur" -m 14 --full-rtt \
    >"$d/sockperf.txt" 2>&1 || log "sockperf client failed: $(tail -c 400 "$d/sockperf.txt")"
  if [[ -n "$cpid" ]]; then
    wait_pid "$cpid" $((dur + 10))
    stop_pid "$cpid" "$(stat -L -c %i "/run/netns/${P}p11")"
    stop_pid "$ipid" "$inode"
  fi
  stop_pid "$spid" "$inode"
  "${LABTOOL[@]}" record --raw "$WORK/raw.jsonl" --topology "$topo" --metric "$metric" --run "$run" \
    --client "$d/sockperf.txt" "${server[@]}"
}

proc_snapshot() {   # proc_snapshot FILE: "NODE SECONDS STAT-LINE" for every process in the node namespaces
  local n pid
  : >"$1"
  for n in "${LAB_NODES[@]}"; do
    for pid in $(ip netns pids "$P$n" 2>/dev/null); do
      [[ -r "/proc/$pid/stat" ]] && echo "$n $(date +%s.%N) $(cat "/proc/$pid/stat" 2>/dev/null)" >>"$1"
    done
  done
}

idle_cpu_run() {   # idle_cpu_run TOPO METRIC RUN DURATION: the dataplane's CPU while nothing is sent
  local topo="$1" metric="$2" run="$3" dur="$4"
  local d="$WORK/$topo-$metric-$run"
  mkdir -p "$d"
  if [[ "$topo" == kernel ]]; then
    log "idle_cpu: the kernel has no dataplane process (it forwards in softirq); ferry only"
    return 0
  fi
  proc_snapshot "$d/stat-before"
  sleep "$dur"
  proc_snapshot "$d/stat-after"
  "${LABTOOL[@]}" record --raw "$WORK/raw.jsonl" --topology "$topo" --metric "$metric" --run "$run" \
    --client /dev/null --cpu-before "$d/stat-before" --cpu-after "$d/stat-after"
}

run_metric() {   # run_metric TOPO METRIC RUN DURATION
  local topo="$1" metric="$2" run="$3" dur="$4"
  local web="http://$LAB_WEB_VIP:$LAB_WEB_PORT/"
  case "$metric" in
    *_nooffload) set_offloads off ;;
    *) set_offloads on ;;
  esac
  case "$metric" in
    svc_scale_*) set_services "${metric#svc_scale_}" ;;
    *) set_services base ;;
  esac
  case "$metric" in
    # four streams: with several ferry workers per node (LAB_WORKERS) the flows spread over them
    tcp_cross_node_p4) iperf_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$dur" -P 4 ;;
    tcp_cross_node_*) iperf_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$dur" ;;
    tcp_same_node_*) iperf_run "$topo" "$metric" "$run" p12 "$LAB_P12_IP" "$dur" ;;
    tcp_clusterip_*) iperf_run "$topo" "$metric" "$run" p21 "$LAB_IPERF_VIP" "$dur" ;;
    # p12 sends (-R) to ext through node1's NodePort: DNAT reversed, out of node1's uplink without a tunnel
    tcp_nodeport_*) IPERF_CLIENT=ext IPERF_CONNECT_PORT="$LAB_IPERF_NODEPORT" \
      iperf_run "$topo" "$metric" "$run" p12 "$LAB_NODE1_UNDERLAY" "$dur" -R ;;
    udp64_pps_cross_node) iperf_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$dur" -u -b 0 -l 18 ;;
    udp1400_cross_node) iperf_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$dur" -u -b 0 -l 1400 ;;
    http_short_direct) wrk_run "$topo" "$metric" "$run" p11 "http://$LAB_P21_IP:$LAB_WEB_TARGET/" "$dur" close ;;
    http_short_clusterip) wrk_run "$topo" "$metric" "$run" p11 "$web" "$dur" close ;;
    http_keepalive_clusterip) wrk_run "$topo" "$metric" "$run" p11 "$web" "$dur" keep ;;
    http_short_nodeport)
      wrk_run "$topo" "$metric" "$run" ext "http://$LAB_NODE1_UNDERLAY:$LAB_WEB_NODEPORT/" "$dur" close ;;
    svc_scale_*) wrk_run "$topo" "$metric" "$run" p11 "$web" "$dur" close ;;
    ping_cross_node_idle) ping_run "$topo" "$metric" "$run" "$LAB_P21_IP" "$dur" idle ;;
    ping_cross_node_busy) ping_run "$topo" "$metric" "$run" "$LAB_P21_IP" "$dur" busy ;;
    ping_same_node_idle) ping_run "$topo" "$metric" "$run" "$LAB_P12_IP" "$dur" idle ;;
    ping_same_node_busy) ping_run "$topo" "$metric" "$run" "$LAB_P12_IP" "$dur" busy ;;
    rr_cross_node) rr_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$RR_PORT" "$dur" ;;
    rr_same_node) rr_run "$topo" "$metric" "$run" p12 "$LAB_P12_IP" "$RR_PORT" "$dur" ;;
    rr_clusterip) rr_run "$topo" "$metric" "$run" p21 "$LAB_IPERF_VIP" "$LAB_IPERF_PORT" "$dur" ;;
    rr_cross_node_bulk) rr_run "$topo" "$metric" "$run" p21 "$LAB_P21_IP" "$RR_PORT" "$dur" bulk ;;
    idle_cpu) idle_cpu_run "$topo" "$metric" "$run" "$dur" ;;
    *) die "unknown metric $metric" ;;
  esac
}

measure_topology() {   # measure_topology TOPO RUN DURATION METRICS...: one run of every metric
  local topo="$1" run="$2" dur="$3"; shift 3
  local metric
  start_servers
  sanity
  warm_up
  for metric in "$@"; do run_metric "$topo" "$metric" "$run" "$dur"; done
}

LAB_WARMUP="${LAB_WARMUP:-5}"   # seconds of unmeasured bulk traffic after each lab comes up (both sides)

warm_up() {   # warm_up: bulk TCP across nodes, not measured, so that no metric is the first on a fresh lab
  # a ferry node is a long-running process: its forwarding path should be compiled when measured, as it is on a
  # node that has run for a minute; the kernel lab gets the same traffic, so both sides are treated alike
  [[ "$LAB_WARMUP" -gt 0 ]] || return 0
  local spid inode
  inode="$(stat -L -c %i "/run/netns/${P}p21")"
  spawn "iperf-warmup" p21 /dev/null iperf3 -s -1 -p "$LAB_IPERF_PORT" --rcv-timeout 5000
  spid=$SPAWNED
  wait_listen p21 "$LAB_IPERF_PORT" || die "iperf3 server in ${P}p21 did not listen"
  timeout $((LAB_WARMUP + 20)) ip netns exec "${P}p11" iperf3 -c "$LAB_P21_IP" -p "$LAB_IPERF_PORT" \
    -t "$LAB_WARMUP" --connect-timeout 3000 >/dev/null 2>&1 || log "warm-up iperf3 failed (not measured)"
  wait_pid "$spid" 10
  stop_pid "$spid" "$inode"
  log "warm-up: ${LAB_WARMUP} s of TCP p11 -> p21, not measured"
}

# --------------------------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------------------------

on_exit() {
  local rc=$?
  if [[ "$KEEP_UP" != 1 ]]; then
    down || true
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ $rc == 0 && -z "${FERRY_BENCH_KEEP_WORK:-}" ]]; then rm -rf "$WORK"; else log "work files kept in $WORK"; fi
  fi
  exit $rc
}

need() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
  [[ ${#missing[@]} == 0 ]] || die "missing tools: ${missing[*]} (Debian: iproute2 iptables iperf3 wrk ethtool \
socat conntrack curl iputils-ping sockperf gnuplot-nox python3)"
}

preflight() {
  [[ "$(id -u)" == 0 ]] || die "needs root (network namespaces)"
  need ip bridge iptables-restore iperf3 wrk ethtool socat conntrack curl ss timeout ping sockperf "$PY"
  mkdir -p "$STATE"
  touch "$PIDFILE"
}

cmd_up() {   # up kernel [--no-servers]
  [[ "${1:-}" == kernel ]] || die "usage: bench-lab.sh up kernel [--no-servers]   (the ferry topology is \
\`ferry lab up --prefix $P\`)"
  local servers=1
  [[ "${2:-}" == --no-servers ]] && servers=0
  preflight
  WORK="$(mktemp -d /tmp/ferry-bench-up.XXXXXX)"
  trap on_exit EXIT
  trap 'exit 130' INT TERM
  down
  kernel_up
  if [[ $servers == 1 ]]; then
    start_servers
    sanity
    FERRY_BENCH_KEEP_WORK=1
    log "up; server logs in $WORK; tear down with: $0 down"
  fi
  KEEP_UP=1
}

cmd_run() {
  local smoke=0 runs=3 dur=10 out="" png="" metrics="" all
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --smoke) smoke=1 ;;
      --metric) metrics="${metrics:+$metrics,}$2"; shift ;;
      --runs) runs="$2"; shift ;;
      --duration) dur="$2"; shift ;;
      --out) out="$2"; shift ;;
      --png) png="$2"; shift ;;
      *) die "unknown option $1" ;;
    esac
    shift
  done
  [[ "$runs" =~ ^[1-9][0-9]?$ && "$dur" =~ ^[1-9][0-9]{0,2}$ ]] || die "--runs 1..99 and --duration 1..999 seconds"
  all="$("${LABTOOL[@]}" metrics | awk '{print $1}' | tr '\n' ',')"
  if [[ $smoke == 1 ]]; then
    runs=1; dur=2; metrics="${metrics:-tcp_cross_node_offload,rr_cross_node,ping_cross_node_busy}"
  fi
  metrics="${metrics:-${all%,}}"
  local list=() m
  IFS=, read -r -a list <<<"$metrics"
  for m in "${list[@]}"; do [[ ",$all" == *",$m,"* ]] || die "unknown metric $m (see: $0 metrics)"; done

  preflight
  need gnuplot
  WORK="$(mktemp -d /tmp/ferry-bench-run.XXXXXX)"
  trap on_exit EXIT
  trap 'exit 130' INT TERM
  local sha date load_before ferry_ok=0
  sha="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  date="$(date -u +%Y-%m-%d)"
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ $smoke == 1 ]]; then
    out="${out:-$WORK/out}"; png="${png:-$out/lab-benchmark.png}"
  else
    # an A/B run into its own --out directory must not replace the README's chart: its chart goes beside it
    if [[ -n $out ]]; then png="${png:-$out/lab-benchmark.png}"; fi
    out="${out:-$ROOT/benchmarks/results}"; png="${png:-$ROOT/docs/lab-benchmark.png}"
  fi
  mkdir -p "$out" "$(dirname "$png")"
  log "metrics: ${list[*]}; $runs run(s) of ${dur}s; load before: $load_before"

  if ferry_available; then ferry_ok=1; else log "ferry: not measured ($FERRY_REASON)"; fi
  # rounds: kernel then ferry, each built from scratch, once per run, so that a change in the machine's load
  # during the run spreads over both columns instead of landing on one of them
  local run
  for run in $(seq 1 "$runs"); do
    log "round $run of $runs"
    down
    kernel_up
    measure_topology kernel "$run" "$dur" "${list[@]}"
    down
    if [[ $ferry_ok == 1 ]]; then
      ferry_up
      measure_topology ferry "$run" "$dur" "${list[@]}"
      down
    fi
  done

  local base="$out/lab-$date-$sha"
  "${LABTOOL[@]}" report --raw "$WORK/raw.jsonl" --json "$base.json" --table "$base.txt" --png "$png" \
    --date "$date" --sha "$sha" --command "benchmarks/lab/bench-lab.sh run ${CMDLINE[*]}" \
    --load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" --runs "$runs" --duration "$dur" \
    --smoke "$smoke" --ferry-available "$ferry_ok" --ferry-reason "$FERRY_REASON"
  [[ -s "$base.json" && -s "$png" ]] || die "no report written"
  log "wrote $base.json, $base.txt and $png"
}

CMDLINE=("${@:2}")
case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) [[ "$(id -u)" == 0 ]] || die "needs root"; down; log "down: no ${P}* namespace left" ;;
  run) shift; cmd_run "$@" ;;
  metrics) "${LABTOOL[@]}" metrics ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
