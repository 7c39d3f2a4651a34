#!/usr/bin/env python3
"""Splits cross-node ping round trips into hops from four captures (LatencyProbe, issue 11): p1 (pod 1's
TAP), u1 and u2 (the uplinks; receive side only, PACKET_QDISC_BYPASS hides ferry's transmits from taps) and p2
(pod 2's TAP). Matches ICMP sequence numbers (inner headers of the VXLAN frames on :8472) and prints the median,
p90 and max of each hop.

    python3 benchmarks/lab/latency-hops.py [/tmp/ferry-probe]
"""
import subprocess, sys, statistics as st
d = sys.argv[1] if len(sys.argv) > 1 else '/tmp/ferry-probe'
def load(name):
    out = subprocess.run(['tshark','-r',f'{d}/{name}.pcap','-d','udp.port==8472,vxlan','-T','fields','-e','frame.time_epoch','-e','icmp.type','-e','icmp.seq','-Y','icmp'],capture_output=True,text=True).stdout
    m = {}
    for line in out.splitlines():
        t, ty, seq = line.split('\t')
        m.setdefault((int(ty), int(seq.split(',')[0])), float(t))
    return m
p1, u1, u2, p2 = (load(n) for n in ('p1','u1','u2','p2'))
hops = {'req worker1 (p1->u2 rx)': (p1, u2, 8), 'req worker2 (u2 rx->p2)': (u2, p2, 8),
        'pod2 kernel (p2 req->p2 rep)': None, 'rep worker2 (p2->u1 rx)': (p2, u1, 0),
        'rep worker1 (u1 rx->p1)': (u1, p1, 0), 'RTT at p1': None}
seqs = sorted(s for (ty, s) in p1 if ty == 8 and (0, s) in p1)
for name, h in hops.items():
    vals = []
    for s in seqs:
        try:
            if name.startswith('pod2'):
                vals.append(p2[(0, s)] - p2[(8, s)])
            elif name.startswith('RTT'):
                vals.append(p1[(0, s)] - p1[(8, s)])
            else:
                a, b, ty = h
                vals.append(b[(ty, s)] - a[(ty, s)])
        except KeyError:
            pass
    if vals:
        vals.sort()
        print(f'{name:32s} n={len(vals):3d} p50={1e6*st.median(vals):8.1f}us p90={1e6*vals[int(.9*len(vals))]:8.1f}us max={1e6*vals[-1]:8.1f}us')
