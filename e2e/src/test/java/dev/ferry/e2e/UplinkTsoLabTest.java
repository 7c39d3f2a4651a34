package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabManifests;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 12 item 3 in packet mode: a pod's TCP superframes (its TAP's TSO) leave node1's uplink without a tunnel as
 * whole superframes, for the kernel, the bridge and the veth to carry: a NodePort reply (ferry-ext downloads 1 MB
 * from node1:30080, served by p12 on node1, so the reply is DNAT-reversed on its way to the uplink) and masquerade
 * egress (p11 uploads 1 MB to a TCP sink in ferry-ext, SNAT to node1's address). Both compare by SHA-256, and tcpdump
 * in ferry-ext sees frames far above the MTU from ferry (which before this were cut into MTU-sized frames by ferry).
 * Runs under {@code flock /tmp/ferry-netns.lock}.
 */
@Tag("netns")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
final class UplinkTsoLabTest
{
    private static final String FILE = "tso.bin";
    private static final int SINK_PORT = 9000;
    private static Lab lab;
    private static String sha;

    @BeforeAll
    static void up() throws IOException, NoSuchAlgorithmException
    {
        lab = LabFixture.up(Lab.Node2.FERRY);
        if (lab == null)
        {
            return;
        }
        final byte[] data = new byte[1 << 20];
        new Random(21).nextBytes(data);
        sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        Files.write(lab.state().file("www/p12/" + FILE), data);
    }

    @BeforeEach
    void needsTheLab()
    {
        LabFixture.assumeRootAndTools();
    }

    @AfterAll
    static void down() throws IOException
    {
        LabFixture.down(lab);
    }

    /**
     * Captures in ferry-ext, while {@code body} runs, TCP frames matching {@code filter} larger than any MTU-sized
     * frame.
     *
     * @return how many it saw (tcpdump stops at 5).
     */
    private static int superframesSeenByExt(final String name, final String filter, final Runnable body)
        throws Exception
    {
        final Path pcap = lab.state().file("logs/" + name + ".pcap");
        Files.deleteIfExists(pcap);
        final Path log = lab.state().file("logs/" + name + ".log");
        Files.deleteIfExists(log); // logs append across runs: an earlier "listening on" is not this capture's
        final Process dump = lab.startIn(lab.spec().extNs(), name, List.of("timeout", "20", "tcpdump", "-n", "-i",
            lab.spec().linkPrefix() + "ext", "-c", "5", "-w", pcap.toString(), filter + " and greater 3000"));
        for (int i = 0; i < 100 && !(Files.exists(log) && Files.readString(log).contains("listening on")); i++)
        {
            Thread.sleep(50); // tcpdump's start-up: it says when the capture is open
        }
        body.run();
        if (!dump.waitFor(25, TimeUnit.SECONDS))
        {
            dump.destroy();
        }
        final Shell.Result r = Shell.run("tcpdump", "-n", "-r", pcap.toString());
        return (int)r.out().lines().filter(l -> !l.isBlank()).count();
    }

    @Test
    @Order(1)
    void shouldSendNodePortRepliesAsSuperframes() throws Exception
    {
        lab.setBackends(List.of("p12"), LabManifests.servers(lab.spec()));
        try
        {
            final String url = "http://" + lab.spec().node1().ip() + ":" + LabSpec.WEB_NODEPORT + "/" + FILE;
            final String[] got = new String[1];
            final int seen = superframesSeenByExt("tso-nodeport", "tcp src port " + LabSpec.WEB_NODEPORT, () ->
            {
                final Shell.Result r = Shell.inNetns(30_000, lab.spec().extNs(), "sh", "-c",
                    "curl -sS --max-time 20 -o - " + url + " | sha256sum");
                assertThat(r.ok()).as(url + ": " + r.err()).isTrue();
                got[0] = r.out().trim().split(" ")[0];
            });
            assertThat(got[0]).as("1 MB p12 -> NodePort -> ferry-ext intact").isEqualTo(sha);
            assertThat(seen).as("superframes from node1's uplink, seen by ferry-ext").isPositive();
        }
        finally
        {
            lab.setBackends(LabManifests.servers(lab.spec()), LabManifests.servers(lab.spec()));
        }
    }

    @Test
    @Order(2)
    void shouldSendMasqueradedUploadsAsSuperframes() throws Exception
    {
        // lab logs append across runs: an earlier run's "ready" and "from" lines must not be read as this sink's
        final Path log = lab.state().file("logs/tso-sink.log");
        Files.deleteIfExists(log);
        lab.startIn(lab.spec().extNs(), "tso-sink", List.of("timeout", "30", "python3", "-u", "-c",
            "import socket, hashlib\n"
                + "s = socket.socket()\n"
                + "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                + "s.bind(('" + LabSpec.EXT_IP + "', " + SINK_PORT + "))\n"
                + "s.listen(1)\n"
                + "print('ready', flush=True)\n"
                + "c, a = s.accept()\n"
                + "h = hashlib.sha256()\n"
                + "while True:\n"
                + "    d = c.recv(1 << 16)\n"
                + "    if not d:\n"
                + "        break\n"
                + "    h.update(d)\n"
                + "print('from', a[0], h.hexdigest(), flush=True)\n"));
        for (int i = 0; i < 200 && !(Files.exists(log) && Files.readString(log).contains("ready")); i++)
        {
            Thread.sleep(50); // the sink says when it listens
        }
        final String[] sent = new String[1];
        final int seen = superframesSeenByExt("tso-masq", "tcp dst port " + SINK_PORT, () ->
        {
            final Shell.Result r = Shell.inNetns(30_000, lab.spec().podNs("p11"), "python3", "-c",
                "import socket, hashlib, random\n"
                    + "d = random.Random(7).randbytes(1 << 20)\n"
                    + "s = socket.create_connection(('" + LabSpec.EXT_IP + "', " + SINK_PORT + "))\n"
                    + "s.sendall(d)\n"
                    + "s.close()\n"
                    + "print(hashlib.sha256(d).hexdigest())\n");
            assertThat(r.ok()).as(r.err()).isTrue();
            sent[0] = r.out().trim();
        });
        String line = "";
        for (int i = 0; i < 200 && !line.startsWith("from"); i++)
        {
            line = Files.readString(log).lines().filter(l -> l.startsWith("from")).findFirst().orElse("");
            if (line.isEmpty())
            {
                Thread.sleep(50); // the sink prints when the upload has ended
            }
        }
        assertThat(line).as("what the sink in ferry-ext got").isEqualTo("from " + lab.spec().node1().ip() + " "
            + sent[0]);
        assertThat(seen).as("superframes from node1's uplink (masqueraded), seen by ferry-ext").isPositive();
    }
}
