package dev.ferry.cli;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.PcapReader;
import dev.ferry.tapio.PcapWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 11: a Service the compiler cannot use (a NodePort outside the range) is left out of replay's
 * tables with a warning line, and the other Services still work. Class 12: a loadBalancerSourceRanges entry that
 * is not a CIDR is left out with a warning line, and the other ranges are enforced.
 */
class ReplaySkipsBadObjectTest
{
    private static final Path CLUSTER = Path.of("src/test/resources/nat-cluster").toAbsolutePath();
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int GATEWAY = Ip4.parse("10.244.1.1");

    @TempDir
    Path tmp;

    @Test
    void shouldWarnAboutABadSourceRangeAndEnforceTheOthers() throws Exception
    {
        final Path cluster = copyCluster();
        Files.writeString(cluster.resolve("99-ranges.yaml"), """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Service
              metadata: {name: lb-ranges, namespace: default}
              spec:
                type: LoadBalancer
                clusterIP: 10.96.0.98
                clusterIPs: [10.96.0.98]
                loadBalancerSourceRanges: ["203.0.113.0/24", "bogus"]
                ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30098}]
              status: {loadBalancer: {ingress: [{ip: 198.51.100.98}]}}
            - apiVersion: discovery.k8s.io/v1
              kind: EndpointSlice
              addressType: IPv4
              metadata: {name: lb-ranges-x, namespace: default, labels: {kubernetes.io/service-name: lb-ranges}}
              endpoints: [{addresses: [10.244.1.2], conditions: {ready: true}, nodeName: node-a}]
              ports: [{name: "", port: 8080, protocol: TCP}]
            """);
        final Path in = tmp.resolve("in.pcap");
        final long outside = Ip4.parseMac("02:00:cb:00:71:07");
        final long nodeA = Ip4.podMac(Ip4.parse("192.168.50.11"));
        try (PcapWriter w = PcapWriter.create(in))
        {
            w.write(1_700_000_000_000_000_000L, new FrameBuilder().eth(outside, nodeA)
                .ip4(Ip4.parse("203.0.113.7"), Ip4.parse("198.51.100.98")).tcp(50000, 80, 0x02, 1000, 0).build());
            w.write(1_700_000_000_000_000_001L, new FrameBuilder().eth(outside, nodeA)
                .ip4(Ip4.parse("192.0.2.50"), Ip4.parse("198.51.100.98")).tcp(50001, 80, 0x02, 1000, 0).build());
        }
        final Path out = tmp.resolve("out.pcap");

        final Run run = replay("--cluster", cluster.toString(), "--node", "node-a", "--in", in.toString(), "--out",
            out.toString(), "--show-services");

        assertThat(run.rc()).as("exit code; stderr: " + run.stderr()).isZero();
        assertThat(run.stderr()).contains("warning: skipping Service (invalid-source-range): ")
            .contains("Service default/lb-ranges: spec.loadBalancerSourceRanges[1]: not a CIDR: 'bogus'");
        assertThat(run.stdout()).contains("LoadBalancer IPs and NodePorts only from 203.0.113.0/24")
            .contains("source-not-allowed");
        assertThat(frames(out)).as("only the SYN from inside the range, DNATed").hasSize(1);
    }

    private Path copyCluster() throws Exception
    {
        final Path cluster = tmp.resolve("cluster");
        Files.createDirectories(cluster);
        try (Stream<Path> s = Files.list(CLUSTER))
        {
            for (final Path f : s.toList())
            {
                Files.copy(f, cluster.resolve(f.getFileName()));
            }
        }
        return cluster;
    }

    private static List<byte[]> frames(final Path pcap) throws Exception
    {
        final List<byte[]> frames = new ArrayList<>();
        try (PcapReader r = PcapReader.open(pcap))
        {
            while (r.next())
            {
                frames.add(r.frame());
            }
        }
        return frames;
    }

    @Test
    void shouldWarnAboutABadServiceAndTranslateTheOthers() throws Exception
    {
        final Path cluster = clusterWithBadNodePort();
        final Path out = tmp.resolve("out.pcap");

        final Run run = replay("--cluster", cluster.toString(), "--node", "node-a", "--in", synToClusterIp().toString(),
            "--out", out.toString());

        assertThat(run.rc()).as("exit code; stderr: " + run.stderr()).isZero();
        assertThat(run.stderr()).contains("warning: skipping Service (nodeport-out-of-range): ")
            .contains("Service default/bad-nodeport: spec.ports[0].nodePort: 20000 is outside the NodePort range");
        assertThat(run.stderr().lines().filter(l -> l.startsWith("warning:")).count())
            .as("one warning per bad object").isEqualTo(1);
        final List<byte[]> frames = frames(out);
        assertThat(frames).as("the SYN, translated").hasSize(1);
        final byte[] f = frames.getFirst();
        assertThat((f[30] & 0xff) + "." + (f[31] & 0xff) + "." + (f[32] & 0xff) + "." + (f[33] & 0xff))
            .as("destination after DNAT").isEqualTo("10.244.1.2");
        assertThat((f[36] & 0xff) << 8 | f[37] & 0xff).as("destination port after DNAT").isEqualTo(8080);
    }

    @Test
    void shouldWarnOnceAboutABadServiceInWholeClusterReplay() throws Exception
    {
        final Path cluster = clusterWithBadNodePort();
        final Path out = tmp.resolve("out.pcapng");

        final Run run = replay("--cluster", cluster.toString(), "--in", synToClusterIp().toString(), "--out",
            out.toString());

        assertThat(run.rc()).as("exit code; stderr: " + run.stderr()).isZero();
        assertThat(run.stdout()).contains("whole cluster, 2 nodes");
        assertThat(run.stderr().lines().filter(l -> l.startsWith("warning:")).toList())
            .as("one warning for the bad object, though every node's tables leave it out").containsExactly(
                "warning: skipping Service (nodeport-out-of-range): 99-bad.yaml: Service default/bad-nodeport: "
                    + "spec.ports[0].nodePort: 20000 is outside the NodePort range 30000-32767");
        assertThat(frames(out)).as("the SYN, translated").hasSize(1);
    }

    /** The test cluster plus a NodePort Service outside the range the control plane names. */
    private Path clusterWithBadNodePort() throws Exception
    {
        final Path cluster = copyCluster();
        Files.writeString(cluster.resolve("99-bad.yaml"), """
            apiVersion: v1
            kind: Service
            metadata: {name: bad-nodeport, namespace: default}
            spec:
              type: NodePort
              clusterIP: 10.96.0.99
              clusterIPs: [10.96.0.99]
              ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 20000}]
            ---
            # the range is enforced only when a source names it (here the control plane's kube-apiserver Pod)
            apiVersion: v1
            kind: Pod
            metadata: {name: kube-apiserver-cp, namespace: kube-system, labels: {component: kube-apiserver}}
            spec: {containers: [{name: kube-apiserver, command: [kube-apiserver, --service-node-port-range=30000-32767]}]}
            """);
        return cluster;
    }

    /** client-1 to np-cluster's ClusterIP: DNAT to web-1 (10.244.1.2:8080). */
    private Path synToClusterIp() throws Exception
    {
        final Path in = tmp.resolve("in.pcap");
        try (PcapWriter w = PcapWriter.create(in))
        {
            w.write(1_700_000_000_000_000_000L, new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY))
                .ip4(CLIENT, Ip4.parse("10.96.0.21")).tcp(40123, 80, 0x02, 1000, 0).build());
        }
        return in;
    }

    private record Run(int rc, String stdout, String stderr)
    {
    }

    private static Run replay(final String... args)
    {
        final StringWriter stdout = new StringWriter();
        final StringWriter stderr = new StringWriter();
        final String[] argv = new String[args.length + 1];
        argv[0] = "replay";
        System.arraycopy(args, 0, argv, 1, args.length);
        final int rc = Ferry.commandLine().setOut(new PrintWriter(stdout)).setErr(new PrintWriter(stderr))
            .execute(argv);
        return new Run(rc, stdout.toString(), stderr.toString());
    }
}
