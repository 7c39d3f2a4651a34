#!/usr/bin/env python3
"""Tests for labtool.py: whole-table diffs of the kube-proxy-shaped rules (as kube-proxy's own tests do),
Service scaling, the ferry manifests, tool-output parsing and the report. The netns test loads the rules into
a real namespace with iptables-restore; it needs root and skips with the reason otherwise.

Run: python3 benchmarks/lab/test_labtool.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import labtool  # noqa: E402


def chains_of(rules, prefix):
    return [line[1:].split()[0] for line in rules.splitlines() if line.startswith(":" + prefix)]


class IptablesRulesTest(unittest.TestCase):

    def test_should_match_golden_rules_for_node1_with_the_lab_services(self):
        with open(os.path.join(HERE, "testdata", "node1-base.rules")) as f:
            expected = f.read()
        self.assertEqual(expected, labtool.iptables_rules("node1", labtool.base_services()),
                         "node1 rules differ from testdata/node1-base.rules")

    def test_should_split_endpoints_uniformly_like_kube_proxy(self):
        svc = labtool.Service("ns", "three", "p", "10.96.1.1", 80, "tcp", 8080,
                              [("10.244.1.5", "node1"), ("10.244.1.6", "node1"), ("10.244.2.5", "node2")])
        rules = labtool.iptables_rules("node1", [svc]).splitlines()
        jumps = [r for r in rules if r.startswith("-A %s " % labtool.svc_chain(svc)) and "KUBE-SEP-" in r]
        self.assertEqual(3, len(jumps), "one jump per endpoint")
        self.assertIn("--probability 0.3333333333", jumps[0])
        self.assertIn("--probability 0.5000000000", jumps[1])
        self.assertNotIn("statistic", jumps[2], "the last endpoint is taken unconditionally")

    def test_should_dnat_each_endpoint_and_mark_hairpin_for_masquerade(self):
        web = labtool.base_services()[0]
        rules = labtool.iptables_rules("node2", [web])
        for ip in ("10.244.1.3", "10.244.2.2"):
            sep = labtool.sep_chain(web, ip)
            self.assertIn("-A %s -m comment --comment default/web:http -s %s/32 -j KUBE-MARK-MASQ" % (sep, ip), rules)
            self.assertIn("-j DNAT --to-destination %s:8080" % ip, rules)
        self.assertIn("-j MASQUERADE --random-fully", rules)
        self.assertIn("--dport 30080 -j %s" % labtool.ext_chain(web), rules)

    def test_should_keep_the_nodeport_jump_last_in_kube_services(self):
        rules = labtool.iptables_rules("node1", labtool.scale_services(50)).splitlines()
        services = [r for r in rules if r.startswith("-A KUBE-SERVICES ")]
        self.assertEqual(51, len(services), "50 cluster-IP rules and the nodeport jump")
        self.assertIn("--dst-type LOCAL -j KUBE-NODEPORTS", services[-1])

    def test_should_name_chains_like_kube_proxy(self):
        web = labtool.base_services()[0]
        self.assertRegex(labtool.svc_chain(web), r"^KUBE-SVC-[A-Z2-7]{16}$")
        self.assertRegex(labtool.sep_chain(web, "10.244.1.3"), r"^KUBE-SEP-[A-Z2-7]{16}$")
        self.assertEqual(labtool.svc_chain(web)[9:], labtool.ext_chain(web)[9:], "EXT and SVC share the hash")


class ScaleTest(unittest.TestCase):

    def test_should_install_exactly_the_requested_number_of_services(self):
        for count in (1, 1000, 10000):
            rules = labtool.iptables_rules("node1", labtool.scale_services(count))
            self.assertEqual(count, len(chains_of(rules, "KUBE-SVC-")), "%d Services" % count)

    def test_should_put_the_measured_service_in_the_middle(self):
        services = labtool.scale_services(1000)
        names = [s.name for s in services]
        self.assertEqual(len(names), len(set((s.namespace, s.name) for s in services)), "unique Services")
        self.assertEqual(499, names.index("web"))
        vips = [s.cluster_ip for s in services]
        self.assertEqual(len(vips), len(set(vips)), "unique cluster IPs")
        self.assertTrue(all(v.startswith("10.96.") or v.startswith("10.100.") or v.startswith("10.101.")
                            for v in vips), "cluster IPs inside 10.96.0.0/12")


class ManifestsTest(unittest.TestCase):

    def test_should_describe_the_same_services_for_ferry(self):
        text = labtool.manifests(labtool.base_services())
        docs = text.split("---\n")
        self.assertEqual(6, len(docs), "a Service and an EndpointSlice per Service")
        self.assertEqual(3, sum(1 for d in docs if "kind: Service\n" in d))
        self.assertIn("nodePort: 30080", text)
        self.assertIn("clusterIP: 10.96.0.10", text)
        self.assertIn("protocol: UDP", text)
        with open(os.path.join(HERE, "testdata", "services-base.yaml")) as f:
            self.assertEqual(f.read(), text, "manifests differ from testdata/services-base.yaml")


WRK_OUTPUT = """Running 2s test @ http://10.96.0.10:80/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    13.25ms    6.22ms  37.10ms   67.43%
    Req/Sec     0.94k   140.93     1.24k    75.00%
  1907 requests in 2.05s, 184.37KB read
  Socket errors: connect 0, read 3, write 0, timeout 1
Requests/sec:    928.70
Transfer/sec:     89.79KB
"""


class ParseTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="labtool-test-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def test_should_read_rate_and_errors_from_wrk(self):
        value, extra = labtool.parse_wrk(self.write("wrk.txt", WRK_OUTPUT))
        self.assertEqual(928.70, value)
        self.assertEqual(1907, extra["requests"])
        self.assertEqual({"connect": 0, "read": 3, "write": 0, "timeout": 1}, extra["socket_errors"])

    def test_should_fail_loudly_when_wrk_printed_no_rate(self):
        with self.assertRaises(ValueError):
            labtool.parse_wrk(self.write("wrk.txt", "unable to connect to 10.96.0.10:80 Connection refused\n"))

    def test_should_count_udp_packets_the_receiver_got(self):
        server = {"end": {"sum": {"seconds": 2.0, "packets": 30000, "lost_packets": 10000, "lost_percent": 33.3}}}
        client = {"end": {"sum": {"packets": 30000}}}
        value, extra = labtool.parse_iperf_udp(self.write("c.json", client), self.write("s.json", server))
        self.assertEqual(10.0, value, "20,000 packets in 2 s are 10 kpps")
        self.assertEqual(20000, extra["received_packets"])

    def test_should_reject_an_iperf_error(self):
        path = self.write("c.json", {"error": "unable to connect to server"})
        with self.assertRaises(ValueError):
            labtool.parse_iperf_tcp(path, None)

    def test_should_compute_busy_and_kernel_mode_cpu_seconds(self):
        hz = os.sysconf("SC_CLK_TCK")
        before = "cpu  100 0 50 1000 0 0 10 0 0 0"
        after = "cpu  %d 0 %d 5000 0 0 %d 7 0 0" % (100 + hz, 50 + hz, 10 + hz)
        busy, kernel = labtool.cpu_busy_seconds(before, after)
        self.assertAlmostEqual(3.0, busy)
        self.assertAlmostEqual(2.0, kernel)


class ReportTest(unittest.TestCase):

    META = {"date": "2025-01-01", "git_sha": "abc1234", "command": "bench-lab.sh run",
            "host": {"kernel": "6.18", "cpus": 2, "iptables": "iptables v1.8.9 (nf_tables)", "load_before": "0.1",
                     "load_after": "0.2"},
            "config": {"runs": 3, "duration": 10, "smoke": False}}

    def rows(self, topo, metric, values):
        return [{"topology": topo, "metric": metric, "run": i + 1, "value": v,
                 "extra": {"bytes": int(v * 1e9), "cpu_seconds_per_gb": 2.0 * (i + 1)}} for i, v in enumerate(values)]

    def test_should_report_median_min_max_and_leave_ferry_unmeasured(self):
        meta = dict(self.META, topologies={"kernel": {"available": True},
                                           "ferry": {"available": False,
                                                     "reason": "ferry lab topology not available"}})
        report = labtool.build_report(self.rows("kernel", "tcp_cross_node_offload", [9.0, 11.0, 10.0]), meta)
        entry = report["topologies"]["kernel"]["metrics"]["tcp_cross_node_offload"]
        self.assertEqual((10.0, 9.0, 11.0), (entry["median"], entry["min"], entry["max"]))
        self.assertEqual(4.0, entry["cpu_seconds_per_gb"]["median"])
        table = labtool.render_table(report)
        self.assertRegex(table, r"tcp_cross_node_offload\s+Gbit/s\s+10\.0 \[9\.00\.\.11\.0\]\s+not measured \(\*\)\s+-")
        self.assertIn("(*) ferry: not measured (ferry lab topology not available)", table)
        self.assertEqual(["tcp_cross_node_offload"], [m["name"] for m in report["metrics"]])

    def test_should_give_the_ferry_to_kernel_ratio_when_both_ran(self):
        meta = dict(self.META, topologies={"kernel": {"available": True}, "ferry": {"available": True}})
        rows = self.rows("kernel", "svc_scale_1000", [1000.0, 1000.0, 1000.0])
        rows += self.rows("ferry", "svc_scale_1000", [1500.0, 1400.0, 1600.0])
        table = labtool.render_table(labtool.build_report(rows, meta))
        line = [l for l in table.splitlines() if l.startswith("svc_scale_1000")][0]
        self.assertEqual("1.50", line.split()[-2], line)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("iptables-restore"),
                     "netns: needs root and iptables-restore to load the rules into a network namespace")
class NetnsRestoreTest(unittest.TestCase):
    """Loads the generated rules into a throwaway namespace: the kernel accepts every rule we write."""

    NS = "ferry-bench-ut%d" % (os.getpid() % 10000)

    def setUp(self):
        subprocess.run(["ip", "netns", "add", self.NS], check=True, timeout=10)

    def tearDown(self):
        subprocess.run(["ip", "netns", "del", self.NS], check=False, timeout=10)

    def restore(self, text):
        return subprocess.run(["ip", "netns", "exec", self.NS, "iptables-restore"], input=text, text=True,
                              capture_output=True, timeout=120)

    def test_should_load_the_lab_rules_and_1000_services(self):
        for selector in ("base", "1000"):
            result = self.restore(labtool.iptables_rules("node1", labtool.services_for(selector)))
            self.assertEqual(0, result.returncode, "iptables-restore of %s: %s" % (selector, result.stderr))
        saved = subprocess.run(["ip", "netns", "exec", self.NS, "iptables-save", "-t", "nat"], capture_output=True,
                               text=True, timeout=60).stdout
        self.assertEqual(1000, len(re.findall(r"^:KUBE-SVC-", saved, re.M)), "1,000 service chains in the kernel")
        self.assertEqual(1000, len(re.findall(r"--probability 0\.5", saved)), "two endpoints each")


@unittest.skipUnless(os.geteuid() == 0 and all(shutil.which(t) for t in ("iperf3", "wrk", "ethtool", "gnuplot")),
                     "netns: needs root, iperf3, wrk, ethtool and gnuplot to run the lab")
class FerryContractTest(unittest.TestCase):
    """Drives bench-lab.sh's ferry column through the `ferry lab` contract, with a stub that builds the kernel
    topology (testdata/fake-ferry-lab.sh). Proves the plug-in point, never ferry's performance."""

    def test_should_fill_the_ferry_column_through_lab_up_apply_and_down(self):
        out = tempfile.mkdtemp(prefix="lab-contract-")
        try:
            env = dict(os.environ, FERRY_LAB="on", FERRY_CMD=os.path.join(HERE, "testdata", "fake-ferry-lab.sh"),
                       FAKE_FERRY_LOG=os.path.join(out, "calls.log"), FERRY_BENCH_STATE=os.path.join(out, "state"))
            result = subprocess.run([os.path.join(HERE, "bench-lab.sh"), "run", "--metric",
                                     "tcp_cross_node_offload,svc_scale_1000", "--runs", "1", "--duration", "1",
                                     "--out", out, "--png", os.path.join(out, "chart.png")],
                                    env=env, capture_output=True, text=True, timeout=240)
            self.assertEqual(0, result.returncode, result.stderr[-3000:])
            reports = [f for f in os.listdir(out) if f.startswith("lab-") and f.endswith(".json")]
            self.assertEqual(1, len(reports), os.listdir(out))
            with open(os.path.join(out, reports[0])) as f:
                report = json.load(f)
            ferry = report["topologies"]["ferry"]
            self.assertTrue(ferry["available"])
            self.assertEqual({"tcp_cross_node_offload", "svc_scale_1000"}, set(ferry["metrics"]))
            self.assertGreater(ferry["metrics"]["svc_scale_1000"]["median"], 0)
            with open(os.path.join(out, "calls.log")) as f:
                self.assertEqual(["up base", "apply 1000", "down"], f.read().split("\n")[:-1])
            self.assertTrue(os.path.getsize(os.path.join(out, "chart.png")) > 0, "chart written")
            left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
            self.assertNotIn("ferry-bench-", left, "every lab namespace is gone")
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
