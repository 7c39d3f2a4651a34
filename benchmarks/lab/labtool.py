#!/usr/bin/env python3
"""Helper for bench-lab.sh: the lab's addresses and Services, kube-proxy-shaped iptables rules, the same
Services as Kubernetes manifests for ferry, parsing of tool output, and the final JSON / table / chart.

Standard library only. Subcommands:
  env                                   shell variables with the lab's addresses (eval'd by bench-lab.sh)
  iptables --node NODE --services SET   iptables-restore input for one node (SET: base or a count)
  manifests --services SET --out FILE   the same Services as Service + EndpointSlice YAML (ferry side)
  record ...                            parse one tool run and append a JSON line to the raw file
  report ...                            aggregate raw runs: median/min/max, JSON, text table, gnuplot PNG
"""

import argparse
import base64
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time

# ---------------------------------------------------------------------------------------------------------------
# The lab, as issue 5 describes it. bench-lab.sh reads these through `labtool.py env`; ferry's lab must match.
# ---------------------------------------------------------------------------------------------------------------

PREFIX = "ferry-bench-"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
UNDERLAY_CIDR = "192.168.50.0/24"
EXT_CIDR = "203.0.113.0/24"
MASQ_MARK = "0x4000"
VXLAN_VNI = 1
VXLAN_PORT = 8472

NODES = {
    "node1": {"underlay": "192.168.50.11", "pod_cidr": "10.244.1.0/24", "gw": "10.244.1.1",
              "vtep": "10.244.1.0", "vtep_mac": "0e:fb:00:00:01:01"},
    "node2": {"underlay": "192.168.50.12", "pod_cidr": "10.244.2.0/24", "gw": "10.244.2.1",
              "vtep": "10.244.2.0", "vtep_mac": "0e:fb:00:00:02:01"},
}
PODS = {
    "p11": {"node": "node1", "ip": "10.244.1.2"},   # the client pod
    "p12": {"node": "node1", "ip": "10.244.1.3"},   # server on node 1 (same-node target)
    "p21": {"node": "node2", "ip": "10.244.2.2"},   # server on node 2 (cross-node target)
}
EXT = {"ip": "203.0.113.2", "gw": "203.0.113.1"}   # ext sits behind node1; node1 owns 203.0.113.1

WEB_VIP, WEB_PORT, WEB_TARGET, WEB_NODEPORT = "10.96.0.10", 80, 8080, 30080
ECHO_VIP, ECHO_PORT, ECHO_TARGET = "10.96.0.11", 7, 7007
IPERF_VIP, IPERF_PORT = "10.96.0.12", 5201
# iperf3 in p12 (node1) behind a NodePort on node1: ext's iperf3 -R makes a pod send to ext without a tunnel
IPERF_NP_VIP, IPERF_NODEPORT = "10.96.0.13", 30201


class Service:
    """One single-port Service with its ready endpoints (ip, node)."""

    def __init__(self, namespace, name, port_name, cluster_ip, port, protocol, target_port, endpoints,
                 node_port=0):
        self.namespace = namespace
        self.name = name
        self.port_name = port_name
        self.cluster_ip = cluster_ip
        self.port = port
        self.protocol = protocol
        self.target_port = target_port
        self.endpoints = endpoints
        self.node_port = node_port

    def svc_port_name(self):
        return "%s/%s:%s" % (self.namespace, self.name, self.port_name)


def base_services():
    """The lab's own Services: web (both nodes, NodePort), UDP echo (both nodes), iperf (node 2 only), iperf-np
    (NodePort, node 1 only)."""
    both = [(PODS["p12"]["ip"], "node1"), (PODS["p21"]["ip"], "node2")]
    return [
        Service("default", "web", "http", WEB_VIP, WEB_PORT, "tcp", WEB_TARGET, both, WEB_NODEPORT),
        Service("default", "udp-echo", "echo", ECHO_VIP, ECHO_PORT, "udp", ECHO_TARGET, both),
        Service("default", "iperf", "iperf", IPERF_VIP, IPERF_PORT, "tcp", IPERF_PORT,
                [(PODS["p21"]["ip"], "node2")]),
        Service("default", "iperf-np", "iperf", IPERF_NP_VIP, IPERF_PORT, "tcp", IPERF_PORT,
                [(PODS["p12"]["ip"], "node1")], IPERF_NODEPORT),
    ]


def int_to_ip(value):
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


def ip_to_int(text):
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def scale_services(count):
    """`count` Services in total: the web Service in the middle (kube-proxy writes them in map order, so on
    average the one you hit is halfway down KUBE-SERVICES) and count-1 fillers with two endpoints each."""
    web = base_services()[0]
    if count <= 1:
        return [web]
    fillers = []
    base_vip = ip_to_int("10.100.0.0")
    for i in range(count - 1):
        e1 = "10.244.1.%d" % (100 + (2 * i) % 150)
        e2 = "10.244.2.%d" % (100 + (2 * i + 1) % 150)
        fillers.append(Service("scale", "svc-%05d" % i, "http", int_to_ip(base_vip + i), 80, "tcp", 8080,
                               [(e1, "node1"), (e2, "node2")]))
    middle = len(fillers) // 2
    return fillers[:middle] + [web] + fillers[middle:]


def services_for(selector):
    if selector == "base":
        return base_services()
    return scale_services(int(selector))


# ---------------------------------------------------------------------------------------------------------------
# kube-proxy-shaped iptables (pkg/proxy/iptables/proxier.go layout, written from its documented output)
# ---------------------------------------------------------------------------------------------------------------

def _hash16(text):
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(svc):
    return "KUBE-SVC-" + _hash16(svc.svc_port_name() + svc.protocol)


def ext_chain(svc):
    return "KUBE-EXT-" + _hash16(svc.svc_port_name() + svc.protocol)


def sep_chain(svc, endpoint_ip):
    return "KUBE-SEP-" + _hash16(svc.svc_port_name() + svc.protocol + "%s:%d" % (endpoint_ip, svc.target_port))


def iptables_rules(node, services):
    """The iptables-restore text for one node: kube-proxy's nat and filter chains, plus flannel's."""
    pod_cidr = NODES[node]["pod_cidr"]
    nat_chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "FLANNEL-POSTRTG"]
    nat = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
        "-A KUBE-POSTROUTING -m mark ! --mark %s/%s -j RETURN" % (MASQ_MARK, MASQ_MARK),
        "-A KUBE-POSTROUTING -j MARK --xor-mark %s" % MASQ_MARK,
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        "-A KUBE-MARK-MASQ -j MARK --or-mark %s" % MASQ_MARK,
        '-A FLANNEL-POSTRTG -m mark --mark %s/%s -m comment --comment "flanneld masq" -j RETURN'
        % (MASQ_MARK, MASQ_MARK),
        '-A FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN' % (pod_cidr, CLUSTER_CIDR),
        '-A FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN' % (CLUSTER_CIDR, pod_cidr),
        '-A FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j RETURN'
        % (CLUSTER_CIDR, pod_cidr),
        '-A FLANNEL-POSTRTG -s %s ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'
        % CLUSTER_CIDR,
        '-A FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'
        % (CLUSTER_CIDR, CLUSTER_CIDR),
    ]
    per_svc = []
    for svc in services:
        spn = svc.svc_port_name()
        svc_c = svc_chain(svc)
        nat_chains.append(svc_c)
        match = "-m %s -p %s -d %s/32 --dport %d" % (svc.protocol, svc.protocol, svc.cluster_ip, svc.port)
        nat.append('-A KUBE-SERVICES -m comment --comment "%s cluster IP" %s -j %s' % (spn, match, svc_c))
        per_svc.append('-A %s -m comment --comment "%s cluster IP" %s ! -s %s -j KUBE-MARK-MASQ'
                       % (svc_c, spn, match, CLUSTER_CIDR))
        if svc.node_port:
            ext_c = ext_chain(svc)
            nat_chains.append(ext_c)
            per_svc.append('-A KUBE-NODEPORTS -m comment --comment %s -m %s -p %s --dport %d -j %s'
                           % (spn, svc.protocol, svc.protocol, svc.node_port, ext_c))
            per_svc.append('-A %s -m comment --comment "masquerade traffic for %s external destinations" '
                           "-j KUBE-MARK-MASQ" % (ext_c, spn))
            per_svc.append("-A %s -j %s" % (ext_c, svc_c))
        n = len(svc.endpoints)
        for i, (ip, _node) in enumerate(svc.endpoints):
            sep_c = sep_chain(svc, ip)
            nat_chains.append(sep_c)
            dest = "%s:%d" % (ip, svc.target_port)
            # kube-proxy: endpoint i of n is taken with probability 1/(n-i); the last one unconditionally
            prob = "" if i == n - 1 else " -m statistic --mode random --probability %.10f" % (1.0 / (n - i))
            per_svc.append('-A %s -m comment --comment "%s -> %s"%s -j %s' % (svc_c, spn, dest, prob, sep_c))
            per_svc.append("-A %s -m comment --comment %s -s %s/32 -j KUBE-MARK-MASQ" % (sep_c, spn, ip))
            per_svc.append("-A %s -m comment --comment %s -m %s -p %s -j DNAT --to-destination %s"
                           % (sep_c, spn, svc.protocol, svc.protocol, dest))
    nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
               'rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    out = ["*nat"]
    out += [":%s ACCEPT [0:0]" % c for c in ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")]
    out += [":%s - [0:0]" % c for c in nat_chains]
    out += nat + per_svc
    out.append("COMMIT")
    out += [
        "*filter",
        ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-SERVICES - [0:0]", ":KUBE-FORWARD - [0:0]", ":FLANNEL-FWD - [0:0]",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service '
        'portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark %s/%s -j ACCEPT'
        % (MASQ_MARK, MASQ_MARK),
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        '-A FLANNEL-FWD -s %s -m comment --comment "flanneld forward" -j ACCEPT' % CLUSTER_CIDR,
        '-A FLANNEL-FWD -d %s -m comment --comment "flanneld forward" -j ACCEPT' % CLUSTER_CIDR,
        "COMMIT",
    ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The same Services for ferry: Service + EndpointSlice manifests (what `ferry agent --manifests` reads)
# ---------------------------------------------------------------------------------------------------------------

def manifests(services):
    docs = []
    for svc in services:
        proto = svc.protocol.upper()
        svc_type = "NodePort" if svc.node_port else "ClusterIP"
        node_port = "\n    nodePort: %d" % svc.node_port if svc.node_port else ""
        docs.append(
            "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: %s\n  name: %s\nspec:\n  type: %s\n"
            "  clusterIP: %s\n  clusterIPs: [%s]\n  ports:\n  - name: %s\n    protocol: %s\n    port: %d\n"
            "    targetPort: %d%s\n"
            % (svc.namespace, svc.name, svc_type, svc.cluster_ip, svc.cluster_ip, svc.port_name, proto, svc.port,
               svc.target_port, node_port))
        eps = "".join("- addresses: [%s]\n  conditions: {ready: true, serving: true, terminating: false}\n"
                      "  nodeName: %s\n" % (ip, node) for ip, node in svc.endpoints)
        docs.append(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: %s\n  name: %s-lab\n"
            "  labels:\n    kubernetes.io/service-name: %s\naddressType: IPv4\nports:\n- name: %s\n"
            "  protocol: %s\n  port: %d\nendpoints:\n%s"
            % (svc.namespace, svc.name, svc.name, svc.port_name, proto, svc.target_port, eps))
    return "---\n".join(docs)


# ---------------------------------------------------------------------------------------------------------------
# Metrics: what each one measures (bench-lab.sh owns how; this owns names, units and the report)
# ---------------------------------------------------------------------------------------------------------------

METRICS = [
    # name, unit, description, kind, better (higher or lower)
    ("tcp_cross_node_offload", "Gbit/s", "pod-to-pod TCP across nodes, offloads on", "iperf-tcp", "higher"),
    ("tcp_cross_node_p4", "Gbit/s", "pod-to-pod TCP across nodes, 4 streams (iperf3 -P 4), offloads on",
     "iperf-tcp", "higher"),
    ("tcp_same_node_offload", "Gbit/s", "pod-to-pod TCP on one node, offloads on", "iperf-tcp", "higher"),
    ("tcp_clusterip_offload", "Gbit/s", "pod to ClusterIP TCP (endpoint on the other node), offloads on",
     "iperf-tcp", "higher"),
    ("tcp_nodeport_offload", "Gbit/s", "pod to ext TCP through a NodePort on node1 (iperf3 -R from ext; endpoint on "
     "node1, no tunnel), offloads on", "iperf-tcp", "higher"),
    ("tcp_cross_node_nooffload", "Gbit/s", "pod-to-pod TCP across nodes, offloads off", "iperf-tcp", "higher"),
    ("tcp_same_node_nooffload", "Gbit/s", "pod-to-pod TCP on one node, offloads off", "iperf-tcp", "higher"),
    ("tcp_clusterip_nooffload", "Gbit/s", "pod to ClusterIP TCP (endpoint on the other node), offloads off",
     "iperf-tcp", "higher"),
    ("udp64_pps_cross_node", "kpps", "64-byte UDP frames received across nodes, sender unlimited", "iperf-udp",
     "higher"),
    ("udp1400_cross_node", "Gbit/s", "1400-byte UDP datagrams pod to pod across nodes, received, sender unlimited",
     "iperf-udp-bw", "higher"),
    ("http_short_direct", "conn/s", "HTTP, one connection per request, pod to pod IP (no Service)", "wrk", "higher"),
    ("http_short_clusterip", "conn/s", "HTTP, one connection per request, pod to ClusterIP", "wrk", "higher"),
    ("http_keepalive_clusterip", "req/s", "HTTP keep-alive, pod to ClusterIP", "wrk", "higher"),
    ("http_short_nodeport", "conn/s", "HTTP, one connection per request, ext to NodePort on node1", "wrk", "higher"),
    ("svc_scale_1", "conn/s", "new HTTP connections to a ClusterIP, 1 Service installed", "wrk", "higher"),
    ("svc_scale_1000", "conn/s", "new HTTP connections to a ClusterIP, 1,000 Services installed", "wrk", "higher"),
    ("svc_scale_10000", "conn/s", "new HTTP connections to a ClusterIP, 10,000 Services installed", "wrk", "higher"),
]

# Latency measurements: one run of each yields several metrics (percentiles, rate), named NAME_SUFFIX.
LATENCY = [
    # name, description, kind
    ("ping_cross_node_idle", "ping RTT pod to pod across nodes, 5 per second (idle)", "ping"),
    ("ping_cross_node_busy", "ping RTT pod to pod across nodes, 200 per second (busy)", "ping"),
    ("ping_same_node_idle", "ping RTT pod to pod on one node, 5 per second (idle)", "ping"),
    ("ping_same_node_busy", "ping RTT pod to pod on one node, 200 per second (busy)", "ping"),
    ("rr_cross_node", "TCP request/response (sockperf ping-pong) pod to pod across nodes", "sockperf"),
    ("rr_same_node", "TCP request/response (sockperf ping-pong) pod to pod on one node", "sockperf"),
    ("rr_clusterip", "TCP request/response (sockperf ping-pong) pod to ClusterIP (endpoint on the other node)",
     "sockperf"),
    ("rr_cross_node_bulk", "TCP request/response across nodes while an iperf3 bulk flow shares the path",
     "sockperf"),
    ("idle_cpu", "dataplane CPU with no traffic, busiest node, % of one core over the run (/proc/PID/stat)",
     "idle-cpu"),
]
# per kind: (suffix, unit, what, better); an empty suffix is the measurement's own name
LATENCY_OUTPUTS = {
    "ping": [("p50", "ms", "median", "lower"), ("p99", "ms", "99th percentile", "lower"),
             ("max", "ms", "maximum", "lower")],
    "sockperf": [("p50", "us", "RTT median", "lower"), ("p99", "us", "RTT 99th percentile", "lower"),
                 ("p999", "us", "RTT 99.9th percentile", "lower"), ("tps", "trans/s", "transactions per second",
                                                                    "higher")],
    "idle-cpu": [("", "% core", "", "lower")],
}
LATENCY_BY_NAME = {m[0]: m for m in LATENCY}
for _name, _desc, _kind in LATENCY:
    for _suffix, _unit, _what, _better in LATENCY_OUTPUTS[_kind]:
        METRICS.append((_name + ("_" + _suffix if _suffix else ""), _unit,
                        _desc + (", " + _what if _what else ""), _kind, _better))
# what bench-lab.sh runs: the throughput metrics by name, the latency measurements by theirs
RUNNABLE = [m[0] for m in METRICS if m[3] in ("iperf-tcp", "iperf-udp", "iperf-udp-bw", "wrk")] + [m[0] for m in LATENCY]
METRIC_BY_NAME = {m[0]: m for m in METRICS}


def cpu_busy_seconds(stat_line_before, stat_line_after):
    """Busy CPU seconds (all CPUs) between two `cpu` lines of /proc/stat: (everything but idle, iowait and
    steal; the kernel-mode part of it: system + irq + softirq)."""
    def parse(line):
        fields = [int(x) for x in line.split()[1:]]
        fields += [0] * (10 - len(fields))
        user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
        return user + nice + system + irq + softirq, system + irq + softirq
    hz = float(os.sysconf("SC_CLK_TCK"))
    b_busy, b_kernel = parse(stat_line_before)
    a_busy, a_kernel = parse(stat_line_after)
    return (a_busy - b_busy) / hz, (a_kernel - b_kernel) / hz


def _read(path):
    with open(path) as f:
        return f.read()


def _load_json(path):
    return json.loads(_read(path))


def parse_iperf_tcp(client_json, server_json):
    c = _load_json(client_json)
    if "error" in c and c.get("error"):
        raise ValueError("iperf3: " + c["error"])
    received = c["end"]["sum_received"]
    extra = {"bytes": received["bytes"], "seconds": received["seconds"],
             "retransmits": c["end"]["sum_sent"].get("retransmits")}
    cpu = c["end"].get("cpu_utilization_percent")
    if cpu:
        extra["iperf_cpu_percent_client"] = round(cpu.get("host_total", 0.0), 1)
        extra["iperf_cpu_percent_server"] = round(cpu.get("remote_total", 0.0), 1)
    return received["bits_per_second"] / 1e9, extra


def parse_iperf_udp(client_json, server_json):
    s = _load_json(server_json)
    if s.get("error"):
        raise ValueError("iperf3 server: " + s["error"])
    total = s["end"]["sum"]
    received = total["packets"] - total["lost_packets"]
    seconds = total["seconds"]
    c = _load_json(client_json)
    sent = c["end"]["sum"]["packets"] if "end" in c and "sum" in c["end"] else None
    extra = {"received_packets": received, "sent_packets": sent, "seconds": seconds,
             "lost_percent": round(total.get("lost_percent", 0.0), 2)}
    return received / seconds / 1e3, extra


def parse_iperf_udp_bandwidth(client_json, server_json):
    """Received Gbit/s of an unlimited UDP sender (what arrived, not what was offered): the packets the server got
    times the client's datagram size (the server's own byte total is 0 in its JSON for UDP)."""
    value_kpps, extra = parse_iperf_udp(client_json, server_json)
    blksize = _load_json(client_json)["start"]["test_start"]["blksize"]
    extra["bytes"] = extra["received_packets"] * blksize
    extra["datagram_bytes"] = blksize
    return extra["bytes"] * 8 / extra["seconds"] / 1e9, extra


_WRK_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in ([0-9.]+)(\w+),")
_WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(text_file):
    text = _read(text_file)
    m = _WRK_RPS.search(text)
    if not m:
        raise ValueError("wrk printed no Requests/sec:\n" + text)
    extra = {}
    t = _WRK_TOTAL.search(text)
    if t:
        extra["requests"] = int(t.group(1))
    e = _WRK_ERRORS.search(text)
    if e:
        extra["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), (int(x) for x in e.groups())))
    n = _WRK_NON2XX.search(text)
    if n:
        extra["non_2xx"] = int(n.group(1))
    return float(m.group(1)), extra


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list, as ping and sockperf report them."""
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


_PING_RTT = re.compile(r"time=([0-9.]+) ms")
_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def parse_ping(text_file):
    """ping's per-reply lines: p50, p99 and max RTT in ms, with sent/received/lost."""
    text = _read(text_file)
    rtts = [float(x) for x in _PING_RTT.findall(text)]
    if not rtts:
        raise ValueError("ping printed no replies:\n" + text[-2000:])
    extra = {"replies": len(rtts)}
    m = _PING_SUMMARY.search(text)
    if m:
        extra["sent"] = int(m.group(1))
        extra["lost"] = int(m.group(1)) - int(m.group(2))
    return {"p50": percentile(rtts, 50), "p99": percentile(rtts, 99), "max": max(rtts)}, extra


_SP_PCT = re.compile(r"---> percentile\s+([0-9.]+)\s*=\s*([0-9.]+)")
_SP_MAX = re.compile(r"---> <MAX> observation\s*=\s*([0-9.]+)")
_SP_VALID = re.compile(r"\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_sockperf(text_file):
    """sockperf ping-pong --full-rtt: RTT p50, p99, p99.9 in us and transactions (replies) per second."""
    text = _ANSI.sub("", _read(text_file))
    pct = {float(p): float(v) for p, v in _SP_PCT.findall(text)}
    valid = _SP_VALID.search(text)
    if not valid or 50.0 not in pct or 99.0 not in pct or 99.9 not in pct:
        raise ValueError("sockperf printed no percentiles:\n" + text[-2000:])
    if "Round trip" not in text:
        raise ValueError("sockperf reported one-way latency: run it with --full-rtt")
    seconds, received = float(valid.group(1)), int(valid.group(3))
    extra = {"seconds": seconds, "transactions": received}
    m = _SP_MAX.search(text)
    if m:
        extra["max_us"] = float(m.group(1))
    return {"p50": pct[50.0], "p99": pct[99.0], "p999": pct[99.9], "tps": received / seconds}, extra


def proc_stat_ticks(stat_text):
    """utime + stime of a /proc/PID/stat line, in clock ticks (the command may hold spaces and parentheses)."""
    fields = stat_text[stat_text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def parse_idle_cpu(before_file, after_file):
    """Two snapshots of "NODE SECONDS STAT-LINE" lines (one per dataplane process): the busiest node's CPU in
    percent of one core between them."""
    def read(path):
        ticks, when = {}, {}
        for line in _read(path).splitlines():
            if not line.strip():
                continue
            node, seconds, stat = line.split(" ", 2)
            ticks[node] = ticks.get(node, 0) + proc_stat_ticks(stat)
            when[node] = float(seconds)
        return ticks, when
    b_ticks, b_when = read(before_file)
    a_ticks, a_when = read(after_file)
    hz = float(os.sysconf("SC_CLK_TCK"))
    per_node = {}
    for node in sorted(set(b_ticks) & set(a_ticks)):
        elapsed = a_when[node] - b_when[node]
        if elapsed > 0:
            per_node[node] = round(100.0 * (a_ticks[node] - b_ticks[node]) / hz / elapsed, 2)
    if not per_node:
        raise ValueError("no dataplane process seen in both snapshots")
    return {"": max(per_node.values())}, {"per_node_percent": per_node}


def cmd_record(args):
    if args.metric in LATENCY_BY_NAME:
        record_latency(args)
        return
    kind = METRIC_BY_NAME[args.metric][3]
    if kind == "iperf-tcp":
        value, extra = parse_iperf_tcp(args.client, args.server)
    elif kind == "iperf-udp":
        value, extra = parse_iperf_udp(args.client, args.server)
    elif kind == "iperf-udp-bw":
        value, extra = parse_iperf_udp_bandwidth(args.client, args.server)
    else:
        value, extra = parse_wrk(args.client)
    if args.cpu_before and args.cpu_after:
        busy, kernel = cpu_busy_seconds(_read(args.cpu_before), _read(args.cpu_after))
        extra["cpu_busy_seconds"] = round(busy, 2)
        extra["cpu_kernel_mode_seconds"] = round(kernel, 2)
        if "bytes" in extra and extra["bytes"] > 0:
            extra["cpu_seconds_per_gb"] = round(busy / (extra["bytes"] / 1e9), 3)
            extra["cpu_kernel_mode_seconds_per_gb"] = round(kernel / (extra["bytes"] / 1e9), 3)
    try:
        extra["load1"] = float(_read("/proc/loadavg").split()[0])
    except OSError:
        pass
    row = {"topology": args.topology, "metric": args.metric, "run": args.run, "value": round(value, 3),
           "extra": extra, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with open(args.raw, "a") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
    unit = METRIC_BY_NAME[args.metric][1]
    detail = ""
    if "cpu_seconds_per_gb" in extra:
        detail = "  (%.2f CPU-s/GB)" % extra["cpu_seconds_per_gb"]
    print("  %-7s %-26s run %d: %10.3f %s%s" % (args.topology, args.metric, args.run, value, unit, detail))


def record_latency(args):
    kind = LATENCY_BY_NAME[args.metric][2]
    if kind == "ping":
        values, extra = parse_ping(args.client)
    elif kind == "sockperf":
        values, extra = parse_sockperf(args.client)
    else:
        values, extra = parse_idle_cpu(args.cpu_before, args.cpu_after)
    if args.server and kind == "sockperf":
        # the bulk flow that shared the path: its throughput, so that a starved flow shows
        try:
            extra["bulk_gbps"] = round(parse_iperf_tcp(args.server, None)[0], 3)
        except (ValueError, KeyError, OSError) as e:
            extra["bulk_error"] = str(e)[:200]
    try:
        extra["load1"] = float(_read("/proc/loadavg").split()[0])
    except OSError:
        pass
    with open(args.raw, "a") as f:
        for suffix, unit, _what, _better in LATENCY_OUTPUTS[kind]:
            name = args.metric + ("_" + suffix if suffix else "")
            row = {"topology": args.topology, "metric": name, "run": args.run, "value": round(values[suffix], 3),
                   "extra": extra, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            f.write(json.dumps(row, sort_keys=True) + "\n")
            print("  %-7s %-26s run %d: %10.3f %s" % (args.topology, name, args.run, values[suffix], unit))


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------

def summarize(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "runs": [round(v, 3) for v in values]}


def build_report(raw_rows, meta):
    topologies = {}
    for topo, info in meta["topologies"].items():
        topologies[topo] = {"available": info["available"], "reason": info.get("reason"), "metrics": {}}
    order = [m[0] for m in METRICS]
    for name in order:
        for topo in topologies:
            rows = [r for r in raw_rows if r["topology"] == topo and r["metric"] == name]
            if not rows:
                continue
            entry = summarize([r["value"] for r in rows])
            cpu = [r["extra"]["cpu_seconds_per_gb"] for r in rows if "cpu_seconds_per_gb" in r["extra"]]
            if cpu:
                entry["cpu_seconds_per_gb"] = summarize(cpu)
            entry["run_details"] = [r["extra"] for r in rows]
            topologies[topo]["metrics"][name] = entry
    measured = [n for n in order if any(n in t["metrics"] for t in topologies.values())]
    return {
        "schema": "ferry-lab-bench/1",
        "date": meta["date"],
        "git_sha": meta["git_sha"],
        "command": meta["command"],
        "host": meta["host"],
        "config": meta["config"],
        "metrics": [{"name": n, "unit": METRIC_BY_NAME[n][1], "description": METRIC_BY_NAME[n][2],
                     "better": METRIC_BY_NAME[n][4]} for n in measured],
        "topologies": topologies,
    }


def _cell(entry, key=None):
    if entry is None:
        return "-"
    e = entry[key] if key else entry
    return "%s [%s..%s]" % (_fmt(e["median"]), _fmt(e["min"]), _fmt(e["max"]))


def _load(entry):
    """Median one-minute load average over an entry's runs ("-" when unknown)."""
    loads = [d["load1"] for d in (entry or {}).get("run_details", []) if "load1" in d]
    return "%.1f" % statistics.median(loads) if loads else "-"


def _fmt(v):
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def render_table(report):
    kern = report["topologies"].get("kernel", {"metrics": {}})
    ferry = report["topologies"].get("ferry", {"metrics": {}, "available": False})
    ferry_missing = "not measured (%s)" % (ferry.get("reason") or "ferry lab topology not available")
    lines = []
    h = report["host"]
    lines.append("ferry lab benchmark  %s  git %s" % (report["date"], report["git_sha"]))
    lines.append("host: kernel %s, %s CPUs, %s; load before %s, after %s"
                 % (h["kernel"], h["cpus"], h["iptables"], h["load_before"], h["load_after"]))
    lines.append("config: %d run(s) of %d s per metric, median [min..max]; command: %s"
                 % (report["config"]["runs"], report["config"]["duration"], report["command"]))
    lines.append("")
    header = "%-26s %-11s %-28s %-28s %-12s %s" % ("metric", "unit", "kernel", "ferry", "ferry/kernel", "load k/f")
    lines.append(header)
    lines.append("-" * len(header))
    for m in report["metrics"]:
        name = m["name"]
        k = kern["metrics"].get(name)
        f = ferry["metrics"].get(name) if ferry.get("available") else None
        fcell = _cell(f) if f else ("-" if ferry.get("available") else "not measured (*)")
        ratio = "%.2f" % (f["median"] / k["median"]) if f and k and k["median"] else "-"
        unit = m["unit"] + (" (-)" if m.get("better") == "lower" else "")
        lines.append("%-26s %-11s %-28s %-28s %-12s %s/%s" % (name, unit, _cell(k), fcell, ratio, _load(k),
                                                              _load(f)))
        if k and "cpu_seconds_per_gb" in k:
            fcpu = _cell(f, "cpu_seconds_per_gb") if f and "cpu_seconds_per_gb" in f else "-"
            cratio = ("%.2f" % (f["cpu_seconds_per_gb"]["median"] / k["cpu_seconds_per_gb"]["median"])
                      if f and "cpu_seconds_per_gb" in f and k["cpu_seconds_per_gb"]["median"] else "-")
            lines.append("%-26s %-11s %-28s %-28s %s" % ("  cpu per GB moved", "CPU-s", _cell(k, "cpu_seconds_per_gb"),
                                                        fcpu, cratio))
    lines.append("")
    if not ferry.get("available"):
        lines.append("(*) ferry: " + ferry_missing)
    lines.append("CPU-s per GB: busy seconds of all CPUs (/proc/stat) during the run divided by GB received; "
                 "includes other load on the machine.")
    lines.append("(-) lower is better (latency, idle CPU); everything else: higher is better.")
    lines.append("load k/f: median one-minute load average at the end of the kernel / ferry runs (2 vCPUs).")
    return "\n".join(lines) + "\n"


def render_png(report, png_path, work_dir):
    """A grid of small bar charts, one per metric, kernel vs ferry, median with min..max error bars."""
    metrics = report["metrics"]
    if not metrics:
        return
    dat = os.path.join(work_dir, "lab-chart.dat")
    with open(dat, "w") as f:
        for i, m in enumerate(metrics):
            f.write("# %s\n" % m["name"])
            for j, topo in enumerate(("kernel", "ferry")):
                t = report["topologies"].get(topo, {"metrics": {}})
                e = t["metrics"].get(m["name"])
                if e:
                    f.write("%d %s %s %s\n" % (j, e["median"], e["min"], e["max"]))
                else:
                    f.write("%d NaN NaN NaN\n" % j)
            f.write("\n\n")
    cols = 4
    rows = (len(metrics) + cols - 1) // cols
    ferry = report["topologies"].get("ferry", {})
    subtitle = "" if ferry.get("available") else " (ferry: not measured, lab topology not available)"
    gp = [
        "set terminal pngcairo size %d,%d font 'sans,9'" % (cols * 300, rows * 230 + 40),
        "set output '%s'" % png_path,
        "set multiplot layout %d,%d title 'ferry lab benchmark %s (git %s)%s'"
        % (rows, cols, report["date"], report["git_sha"], subtitle),
        "set style fill solid 0.7 border -1",
        "set boxwidth 0.6",
        "set xrange [-0.6:1.6]",
        "set yrange [0:*]",
        "set xtics ('kernel' 0, 'ferry' 1)",
        "set grid ytics",
        "unset key",
    ]
    for i, m in enumerate(metrics):
        gp.append("unset label")
        for j, topo in enumerate(("kernel", "ferry")):
            if m["name"] not in report["topologies"].get(topo, {"metrics": {}})["metrics"]:
                gp.append("set label 'not measured' at first %d, graph 0.05 left rotate by 90 "
                          "textcolor rgb 'gray40'" % j)
        gp.append("set title '%s%s' noenhanced" % (m["name"], " (lower is better)" if m.get("better") == "lower"
                                                    else ""))
        gp.append("set ylabel '%s'" % m["unit"])
        gp.append("plot '%s' index %d using 1:2:(0.6):($1==0?0x4477aa:0xee7733) with boxes lc rgb variable, "
                  "'' index %d using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0" % (dat, i, i))
    gp.append("unset multiplot")
    script = os.path.join(work_dir, "lab-chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", script], check=True, timeout=60)


def _verdict(old, new, better):
    """better / WORSE when the min..max ranges of the runs do not overlap, ~ when they do."""
    if old["max"] < new["min"]:
        up = True
    elif new["max"] < old["min"]:
        up = False
    else:
        return "~"
    return "better" if up == (better == "higher") else "WORSE"


def compare_reports(old, new):
    """Two lab reports, metric by metric and topology by topology: old and new medians, new/old, and a verdict
    that knows the direction (lower is better for latency and idle CPU)."""
    lines = ["lab benchmark: old %s (git %s)  new %s (git %s)"
             % (old.get("date"), old.get("git_sha"), new.get("date"), new.get("git_sha"))]
    header = "%-30s %-7s %-11s %12s %12s %8s  %s" % ("metric", "topo", "unit", "old", "new", "new/old", "verdict")
    lines += [header, "-" * len(header)]
    units = {m["name"]: m for m in old.get("metrics", []) + new.get("metrics", [])}
    for name in [m[0] for m in METRICS if m[0] in units]:
        better = units[name].get("better") or (METRIC_BY_NAME[name][4] if name in METRIC_BY_NAME else "higher")
        for topo in ("kernel", "ferry"):
            o = old.get("topologies", {}).get(topo, {}).get("metrics", {}).get(name)
            n = new.get("topologies", {}).get(topo, {}).get("metrics", {}).get(name)
            if not o or not n:
                continue
            ratio = "%.3f" % (n["median"] / o["median"]) if o["median"] else "-"
            lines.append("%-30s %-7s %-11s %12s %12s %8s  %s"
                         % (name, topo, units[name]["unit"] + (" (-)" if better == "lower" else ""),
                            _fmt(o["median"]), _fmt(n["median"]), ratio, _verdict(o, n, better)))
    lines.append("")
    lines.append("(-) lower is better. Verdict: better/WORSE when the runs' min..max ranges do not overlap, "
                 "~ when they do. Compare runs from the same machine only.")
    return "\n".join(lines) + "\n"


def cmd_report(args):
    rows = [json.loads(line) for line in _read(args.raw).splitlines() if line.strip()] \
        if os.path.exists(args.raw) else []
    try:
        ipt = subprocess.run(["iptables", "-V"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        ipt = "iptables unknown"
    meta = {
        "date": args.date, "git_sha": args.sha, "command": args.command,
        "host": {"kernel": os.uname().release, "cpus": os.cpu_count(), "iptables": ipt,
                 "load_before": args.load_before, "load_after": args.load_after},
        "config": {"runs": args.runs, "duration": args.duration, "smoke": bool(args.smoke)},
        "topologies": {
            "kernel": {"available": True},
            "ferry": {"available": bool(args.ferry_available),
                      "reason": None if args.ferry_available else (args.ferry_reason
                                                                   or "ferry lab topology not available")},
        },
    }
    report = build_report(rows, meta)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2, sort_keys=False)
        f.write("\n")
    table = render_table(report)
    with open(args.table, "w") as f:
        f.write(table)
    sys.stdout.write(table)
    if args.png:
        render_png(report, args.png, os.path.dirname(os.path.abspath(args.raw)))


def cmd_env(_args):
    out = ["LAB_PREFIX=%s" % PREFIX, "LAB_CLUSTER_CIDR=%s" % CLUSTER_CIDR, "LAB_SERVICE_CIDR=%s" % SERVICE_CIDR,
           "LAB_VNI=%d" % VXLAN_VNI, "LAB_VXLAN_PORT=%d" % VXLAN_PORT, "LAB_EXT_IP=%s" % EXT["ip"],
           "LAB_EXT_GW=%s" % EXT["gw"], "LAB_EXT_CIDR=%s" % EXT_CIDR,
           "LAB_WEB_VIP=%s" % WEB_VIP, "LAB_WEB_PORT=%d" % WEB_PORT, "LAB_WEB_TARGET=%d" % WEB_TARGET,
           "LAB_WEB_NODEPORT=%d" % WEB_NODEPORT, "LAB_ECHO_VIP=%s" % ECHO_VIP, "LAB_ECHO_PORT=%d" % ECHO_PORT,
           "LAB_ECHO_TARGET=%d" % ECHO_TARGET, "LAB_IPERF_VIP=%s" % IPERF_VIP, "LAB_IPERF_PORT=%d" % IPERF_PORT,
           "LAB_IPERF_NODEPORT=%d" % IPERF_NODEPORT,
           "LAB_NODES=(%s)" % " ".join(NODES), "LAB_PODS=(%s)" % " ".join(PODS)]
    for name, n in NODES.items():
        for key, value in n.items():
            out.append("LAB_%s_%s=%s" % (name.upper(), key.upper(), value))
    for name, p in PODS.items():
        out.append("LAB_%s_NODE=%s" % (name.upper(), p["node"]))
        out.append("LAB_%s_IP=%s" % (name.upper(), p["ip"]))
    print("\n".join(out))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    p = sub.add_parser("iptables")
    p.add_argument("--node", required=True, choices=sorted(NODES))
    p.add_argument("--services", default="base")
    p = sub.add_parser("manifests")
    p.add_argument("--services", default="base")
    p.add_argument("--out", required=True)
    p = sub.add_parser("record")
    p.add_argument("--raw", required=True)
    p.add_argument("--topology", required=True)
    p.add_argument("--metric", required=True, choices=sorted(RUNNABLE))
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--server")
    p.add_argument("--cpu-before")
    p.add_argument("--cpu-after")
    p = sub.add_parser("report")
    p.add_argument("--raw", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--png")
    p.add_argument("--date", required=True)
    p.add_argument("--sha", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--load-before", default="")
    p.add_argument("--load-after", default="")
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--duration", type=int, required=True)
    p.add_argument("--smoke", type=int, default=0)
    p.add_argument("--ferry-available", type=int, default=0)
    p.add_argument("--ferry-reason", default="")
    sub.add_parser("metrics")
    p = sub.add_parser("compare")
    p.add_argument("old")
    p.add_argument("new")
    args = parser.parse_args(argv)
    if args.cmd == "env":
        cmd_env(args)
    elif args.cmd == "iptables":
        sys.stdout.write(iptables_rules(args.node, services_for(args.services)))
    elif args.cmd == "manifests":
        with open(args.out, "w") as f:
            f.write(manifests(services_for(args.services)))
    elif args.cmd == "record":
        cmd_record(args)
    elif args.cmd == "report":
        cmd_report(args)
    elif args.cmd == "metrics":
        for name in RUNNABLE:
            if name in LATENCY_BY_NAME:
                kind = LATENCY_BY_NAME[name][2]
                units = "/".join(sorted({o[1] for o in LATENCY_OUTPUTS[kind]}))
                print("%-26s %-7s %s" % (name, units, LATENCY_BY_NAME[name][1]))
            else:
                m = METRIC_BY_NAME[name]
                print("%-26s %-7s %s" % (m[0], m[1], m[2]))
    elif args.cmd == "compare":
        sys.stdout.write(compare_reports(_load_json(args.old), _load_json(args.new)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
