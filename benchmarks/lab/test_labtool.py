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
        self.assertEqual(8, len(docs), "a Service and an EndpointSlice per Service")
        self.assertEqual(4, sum(1 for d in docs if "kind: Service\n" in d))
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

    def test_should_report_the_udp_bandwidth_the_receiver_got(self):
        # iperf3's server JSON has bytes 0 for UDP: the bandwidth is packets received times the datagram size
        server = {"end": {"sum": {"seconds": 2.0, "packets": 20000, "lost_packets": 5000, "lost_percent": 25.0,
                                  "bytes": 0, "bits_per_second": 0}}}
        client = {"start": {"test_start": {"blksize": 1400}}, "end": {"sum": {"packets": 20000}}}
        value, extra = labtool.parse_iperf_udp_bandwidth(self.write("c.json", client), self.write("s.json", server))
        self.assertAlmostEqual(0.084, value, msg="15,000 x 1400 B in 2 s are 0.084 Gbit/s")
        self.assertEqual(21000000, extra["bytes"], "bytes received, for CPU-s per GB")
        self.assertEqual(15000, extra["received_packets"])

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


PING_OUTPUT = """PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.
""" + "".join("64 bytes from 10.244.2.2: icmp_seq=%d ttl=62 time=%s ms\n" % (i + 1, t) for i, t in enumerate(
    ["0.%03d" % (100 + i) for i in range(98)] + ["2.50", "7.25"])) + """
--- 10.244.2.2 ping statistics ---
101 packets transmitted, 100 received, 0.990099% packet loss, time 20012ms
rtt min/avg/max/mdev = 0.100/0.245/7.250/0.731 ms
"""

# sockperf 3.7 ping-pong --full-rtt, as it prints it (colour escapes included)
SOCKPERF_OUTPUT = 'sockperf: \x1b[2;35m== version #3.7-no.git == \x1b[0m\nsockperf[CLIENT] send on:sockperf: using recvfrom() to block on socket(s)\n\n[ 0] IP = 127.0.0.1       PORT = 11111 # TCP\nsockperf: Warmup stage (sending a few dummy messages)...\nsockperf: Starting test...\nsockperf: Test end (interrupted by timer)\nsockperf: Test ended\nsockperf: [Total Run] RunTime=2.000 sec; Warm up time=400 msec; SentMessages=31335; ReceivedMessages=31334\nsockperf: ========= Printing statistics for Server No: 0\nsockperf: [Valid Duration] RunTime=1.552 sec; SentMessages=24421; ReceivedMessages=24421\nsockperf: \x1b[2;35m====> avg-rtt=63.529 (std-dev=473.881)\x1b[0m\nsockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0\nsockperf: Summary: Round trip is 63.529 usec\nsockperf: \x1b[2;35mTotal 24421 observations\x1b[0m; each percentile contains 244.21 observations\nsockperf: ---> <MAX> observation = 34140.898\nsockperf: ---> percentile 99.999 = 34140.898\nsockperf: ---> percentile 99.990 = 9302.606\nsockperf: ---> percentile 99.900 = 6204.556\nsockperf: ---> percentile 99.000 = 1925.979\nsockperf: ---> percentile 90.000 =   20.979\nsockperf: ---> percentile 75.000 =   18.775\nsockperf: ---> percentile 50.000 =   18.505\nsockperf: ---> percentile 25.000 =   18.284\nsockperf: ---> <MIN> observation =   16.731\n'


class LatencyParseTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="labtool-test-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content)
        return path

    def test_should_take_nearest_rank_percentiles(self):
        values = list(range(1, 101))
        self.assertEqual(50, labtool.percentile(values, 50))
        self.assertEqual(99, labtool.percentile(values, 99))
        self.assertEqual(100, labtool.percentile(values, 99.9))
        self.assertEqual(7, labtool.percentile([7], 99))

    def test_should_read_ping_percentiles_and_losses(self):
        values, extra = labtool.parse_ping(self.write("ping.txt", PING_OUTPUT))
        self.assertEqual({"p50": 0.149, "p99": 2.5, "max": 7.25}, values)
        self.assertEqual({"replies": 100, "sent": 101, "lost": 1}, extra)

    def test_should_fail_loudly_when_ping_got_no_reply(self):
        with self.assertRaises(ValueError):
            labtool.parse_ping(self.write("ping.txt", "PING 10.244.2.2\n\n2 packets transmitted, 0 received\n"))

    def test_should_read_sockperf_round_trip_percentiles_and_transactions(self):
        values, extra = labtool.parse_sockperf(self.write("sp.txt", SOCKPERF_OUTPUT))
        self.assertEqual(18.505, values["p50"])
        self.assertEqual(1925.979, values["p99"])
        self.assertEqual(6204.556, values["p999"])
        self.assertAlmostEqual(24421 / 1.552, values["tps"])
        self.assertEqual(34140.898, extra["max_us"])

    def test_should_refuse_sockperf_one_way_latency(self):
        text = SOCKPERF_OUTPUT.replace("Round trip is", "Latency is")
        with self.assertRaises(ValueError):
            labtool.parse_sockperf(self.write("sp.txt", text))

    def test_should_give_the_busiest_nodes_cpu_in_percent_of_a_core(self):
        hz = os.sysconf("SC_CLK_TCK")
        stat = "4242 (java thing) S 1 2 3 4 5 6 7 8 9 10 %d %d 0 0 20 0 30 0 1234"
        before = self.write("b", "node1 100.0 " + stat % (1000, 500) + "\nnode2 100.0 " + stat % (10, 10) + "\n")
        after = self.write("a", "node1 110.0 " + stat % (1000 + hz // 10, 500 + hz // 10) + "\n"
                           + "node2 110.0 " + stat % (10 + hz // 10, 10) + "\n")
        values, extra = labtool.parse_idle_cpu(before, after)
        self.assertEqual(2.0, values[""], "0.2 s of CPU in 10 s")
        self.assertEqual({"node1": 2.0, "node2": 1.0}, extra["per_node_percent"])

    def test_should_record_one_row_per_percentile_with_its_name(self):
        raw = os.path.join(self.dir, "raw.jsonl")
        args = labtool.argparse.Namespace(raw=raw, topology="ferry", metric="rr_cross_node", run=1,
                                          client=self.write("sp.txt", SOCKPERF_OUTPUT), server=None,
                                          cpu_before=None, cpu_after=None)
        labtool.cmd_record(args)
        with open(raw) as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual(["rr_cross_node_p50", "rr_cross_node_p99", "rr_cross_node_p999", "rr_cross_node_tps"],
                         [r["metric"] for r in rows])
        self.assertTrue(all(r["metric"] in labtool.METRIC_BY_NAME for r in rows))


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


class CompareTest(unittest.TestCase):

    @staticmethod
    def report(sha, metrics):
        return {"date": "2025-01-01", "git_sha": sha,
                "metrics": [{"name": n, "unit": labtool.METRIC_BY_NAME[n][1], "better": labtool.METRIC_BY_NAME[n][4]}
                            for n in metrics],
                "topologies": {"ferry": {"metrics": {n: {"median": v[1], "min": v[0], "max": v[2]}
                                                     for n, v in metrics.items()}}}}

    def verdicts(self, old, new):
        out = labtool.compare_reports(old, new)
        return {l.split()[0]: l.split()[-1] for l in out.splitlines() if l.split() and l.split()[0] in
                labtool.METRIC_BY_NAME}

    def test_should_call_a_lower_latency_better_and_a_lower_rate_worse(self):
        old = self.report("a", {"ping_cross_node_idle_p50": (0.6, 0.7, 0.8), "rr_cross_node_tps": (9e3, 1e4, 11e3),
                                "tcp_cross_node_offload": (9.0, 10.0, 11.0)})
        new = self.report("b", {"ping_cross_node_idle_p50": (0.1, 0.12, 0.15), "rr_cross_node_tps": (4e3, 5e3, 6e3),
                                "tcp_cross_node_offload": (9.5, 10.5, 11.5)})
        self.assertEqual({"ping_cross_node_idle_p50": "better", "rr_cross_node_tps": "WORSE",
                          "tcp_cross_node_offload": "~"}, self.verdicts(old, new))
        self.assertEqual({"ping_cross_node_idle_p50": "WORSE", "rr_cross_node_tps": "better",
                          "tcp_cross_node_offload": "~"}, self.verdicts(new, old))

    def test_should_mark_lower_is_better_metrics_in_the_table(self):
        meta = dict(ReportTest.META, topologies={"kernel": {"available": True}, "ferry": {"available": True}})
        rows = [{"topology": t, "metric": "ping_cross_node_busy_p50", "run": 1, "value": v, "extra": {}}
                for t, v in (("kernel", 0.024), ("ferry", 0.05))]
        report = labtool.build_report(rows, meta)
        self.assertEqual("lower", report["metrics"][0]["better"])
        line = [l for l in labtool.render_table(report).splitlines() if l.startswith("ping_cross_node_busy_p50")][0]
        self.assertIn("ms (-)", line)
        self.assertEqual("2.08", line.split()[-2], line)


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
