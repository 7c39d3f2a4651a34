package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.ferry.conntrack.ConntrackTable.ICMP;
import static dev.ferry.conntrack.ConntrackTable.MISS;
import static dev.ferry.conntrack.ConntrackTable.ORIGINAL;
import static dev.ferry.conntrack.ConntrackTable.REPLY;
import static dev.ferry.conntrack.ConntrackTable.TCP;
import static dev.ferry.conntrack.ConntrackTable.UDP;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConntrackTableTest
{
    private static final long SEC = 1_000_000_000L;
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int BACKEND = Ip4.parse("10.244.1.2");
    private static final int DNS = Ip4.parse("10.244.2.7");
    private static final int NODE = Ip4.parse("192.168.1.10");
    private static final int EXTERNAL = Ip4.parse("203.0.113.9");

    private final ManualClock clock = new ManualClock(1_000_000 * SEC);
    private ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(1024).build(), clock);

    @AfterEach
    void close()
    {
        table.close();
    }

    private int serviceFlow(final int clientPort)
    {
        return table.insert(0, TCP, CLIENT, VIP, clientPort, 80, BACKEND, CLIENT, 8080, clientPort);
    }

    @Test
    void shouldFindEntryFromBothDirections()
    {
        final int e = serviceFlow(40000);
        assertThat(e).as("entry index").isGreaterThanOrEqualTo(0);

        final long orig = table.lookup(0, TCP, CLIENT, VIP, 40000, 80);
        final long reply = table.lookup(0, TCP, BACKEND, CLIENT, 8080, 40000);

        assertThat(orig).isEqualTo((long)e << 1 | ORIGINAL);
        assertThat(reply).isEqualTo((long)e << 1 | REPLY);
        assertThat(ConntrackTable.entryOf(reply)).isEqualTo(e);
        assertThat(ConntrackTable.directionOf(reply)).isEqualTo(REPLY);
        assertThat(table.lookup(0, TCP, CLIENT, VIP, 40001, 80)).as("other port").isEqualTo(MISS);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 40000, 80)).as("other protocol").isEqualTo(MISS);
        assertThat(table.lookup(0, TCP, VIP, CLIENT, 80, 40000)).as("un-NATed reverse is not a tuple")
            .isEqualTo(MISS);
        assertThat(table.origSrc(e)).isEqualTo(CLIENT);
        assertThat(table.origDst(e)).isEqualTo(VIP);
        assertThat(table.origSrcPort(e)).isEqualTo(40000);
        assertThat(table.origDstPort(e)).isEqualTo(80);
        assertThat(table.replySrc(e)).isEqualTo(BACKEND);
        assertThat(table.replyDst(e)).isEqualTo(CLIENT);
        assertThat(table.replySrcPort(e)).isEqualTo(8080);
        assertThat(table.replyDstPort(e)).isEqualTo(40000);
        assertThat(table.protocol(e)).isEqualTo(TCP);
        assertThat(table.size()).isEqualTo(1);
        assertThat(table.stats().found()).isEqualTo(2);
        assertThat(table.stats().searchMiss()).isEqualTo(3);
        assertThat(table.stats().inserted()).isEqualTo(1);

        table.remove(e);
        assertThat(table.lookup(0, TCP, CLIENT, VIP, 40000, 80)).isEqualTo(MISS);
        assertThat(table.lookup(0, TCP, BACKEND, CLIENT, 8080, 40000)).isEqualTo(MISS);
        assertThat(table.size()).isZero();
        assertThat(table.stats().deleted()).isEqualTo(1);
    }

    @Test
    void shouldKeepHighPortsAndAddressesIntact()
    {
        final int hi = Ip4.parse("255.254.253.252");
        final int e = table.insert(65535, 255, hi, -1, 65535, 65534, -1, hi, 65533, 65535);
        assertThat(table.lookup(65535, 255, hi, -1, 65535, 65534)).isEqualTo((long)e << 1);
        assertThat(table.lookup(65535, 255, -1, hi, 65533, 65535)).isEqualTo((long)e << 1 | 1);
        assertThat(table.zone(e)).isEqualTo(65535);
        assertThat(table.protocol(e)).isEqualTo(255);
        assertThat(table.origSrcPort(e)).isEqualTo(65535);
        assertThat(table.replySrcPort(e)).isEqualTo(65533);
    }

    @Test
    void shouldUseIcmpEchoIdentifierInPlaceOfPorts()
    {
        final int e = table.insert(0, ICMP, CLIENT, EXTERNAL, 77, 77, EXTERNAL, NODE, 1077, 1077);

        assertThat(table.lookup(0, ICMP, CLIENT, EXTERNAL, 77, 77)).isEqualTo((long)e << 1);
        assertThat(table.lookup(0, ICMP, EXTERNAL, NODE, 1077, 1077)).isEqualTo((long)e << 1 | REPLY);
        assertThat(table.lookup(0, ICMP, CLIENT, EXTERNAL, 78, 78)).as("another echo id").isEqualTo(MISS);
        assertThat(table.insert(0, ICMP, DNS, EXTERNAL, 77, 77, EXTERNAL, NODE, 1078, 1078))
            .as("same id from another pod gets its own entry").isGreaterThanOrEqualTo(0);
    }

    @Test
    void shouldSeparateZones()
    {
        final int z0 = table.insert(0, UDP, CLIENT, DNS, 5353, 53, DNS, CLIENT, 53, 5353);
        final int z7 = table.insert(7, UDP, CLIENT, DNS, 5353, 53, DNS, CLIENT, 53, 5353);

        assertThat(z7).as("the same tuples are free in another zone").isGreaterThanOrEqualTo(0).isNotEqualTo(z0);
        assertThat(table.lookup(0, UDP, CLIENT, DNS, 5353, 53)).isEqualTo((long)z0 << 1);
        assertThat(table.lookup(7, UDP, CLIENT, DNS, 5353, 53)).isEqualTo((long)z7 << 1);
        assertThat(table.lookup(3, UDP, CLIENT, DNS, 5353, 53)).isEqualTo(MISS);
        assertThat(table.zone(z7)).isEqualTo(7);
        assertThat(table.tupleInUse(7, UDP, DNS, CLIENT, 53, 5353)).isTrue();
        assertThat(table.tupleInUse(8, UDP, DNS, CLIENT, 53, 5353)).isFalse();
    }

    @Test
    void shouldRefuseInsertWhenEitherTupleIsTaken()
    {
        final int e = table.insert(0, UDP, CLIENT, EXTERNAL, 5000, 53, EXTERNAL, NODE, 53, 61000);
        assertThat(e).isGreaterThanOrEqualTo(0);

        assertThat(table.tupleInUse(0, UDP, EXTERNAL, NODE, 53, 61000)).as("masquerade port taken").isTrue();
        assertThat(table.tupleInUse(0, UDP, EXTERNAL, NODE, 53, 61001)).isFalse();
        assertThat(table.insert(0, UDP, DNS, EXTERNAL, 5000, 53, EXTERNAL, NODE, 53, 61000))
            .as("same reply tuple: the caller must pick another port").isEqualTo(-1);
        assertThat(table.insert(0, UDP, CLIENT, EXTERNAL, 5000, 53, EXTERNAL, NODE, 53, 61001))
            .as("same original tuple").isEqualTo(-1);
        assertThat(table.insert(0, UDP, CLIENT, CLIENT, 9, 9, CLIENT, CLIENT, 9, 9))
            .as("identical tuples cannot both be indexed").isEqualTo(-1);
        assertThat(table.stats().insertFailed()).isEqualTo(3);
        assertThat(table.stats().drop()).isZero();
        assertThat(table.size()).isEqualTo(1);
        assertThat(table.insert(0, UDP, DNS, EXTERNAL, 5000, 53, EXTERNAL, NODE, 53, 61001)).isGreaterThanOrEqualTo(0);
    }

    @Test
    void shouldEarlyDropNonAssuredEntryWhenFull()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.builder().capacity(8).build(), clock);
        final List<String> removed = new ArrayList<>();
        table.removalListener((t, e) -> removed.add(Ip4.format(t.origSrc(e)) + ":" + t.origSrcPort(e)));
        assertThat(table.capacity()).isEqualTo(8);
        final int[] flows = new int[8];
        for (int i = 0; i < 8; i++)
        {
            flows[i] = table.insert(0, UDP, CLIENT, DNS, 1000 + i, 53, DNS, CLIENT, 53, 1000 + i);
            assertThat(flows[i]).isGreaterThanOrEqualTo(0);
            assertThat(table.update(flows[i], REPLY, 0, 100)).isTrue();
        }
        clock.advance(3 * SEC);
        for (int i = 0; i < 8; i++)
        {
            if (i != 5)
            {
                assertThat(table.update(flows[i], ORIGINAL, 0, 100)).isTrue(); // replied, active after 2 s
                assertThat(table.assured(flows[i])).isTrue();
            }
        }
        assertThat(table.assured(flows[5])).as("replied but quiet since").isFalse();
        assertThat(table.size()).isEqualTo(8);

        final int e = table.insert(0, UDP, CLIENT, DNS, 2000, 53, DNS, CLIENT, 53, 2000);

        assertThat(e).as("the new flow gets the slot of the one unassured flow").isGreaterThanOrEqualTo(0);
        assertThat(removed).containsExactly("10.244.1.3:1005");
        assertThat(table.lookup(0, UDP, CLIENT, DNS, 1005, 53)).isEqualTo(MISS);
        assertThat(table.size()).isEqualTo(8);
        assertThat(table.stats().earlyDrop()).isEqualTo(1);
        assertThat(table.stats().drop()).isZero();

        assertThat(table.update(e, REPLY, 0, 100)).isTrue();
        clock.advance(3 * SEC);
        assertThat(table.update(e, ORIGINAL, 0, 100)).isTrue();
        assertThat(table.insert(0, UDP, CLIENT, DNS, 2001, 53, DNS, CLIENT, 53, 2001))
            .as("every entry assured: the new flow is dropped").isEqualTo(-1);
        assertThat(table.stats().drop()).isEqualTo(1);
        assertThat(table.stats().earlyDrop()).isEqualTo(1);
        assertThat(removed).hasSize(1);
        assertThat(table.size()).isEqualTo(8);
    }

    @Test
    void shouldEarlyDropExpiredEntryBeforeAnyLiveOne()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.builder().capacity(4).build(), clock);
        for (int i = 0; i < 4; i++)
        {
            table.insert(0, UDP, CLIENT, DNS, 1000 + i, 53, DNS, CLIENT, 53, 1000 + i);
            clock.advance(9 * SEC);
        }
        // now t=36: the first flow (t=0) is past its 30 s; the others (t=9, 18, 27) are not.
        final int e = table.insert(0, UDP, CLIENT, DNS, 3000, 53, DNS, CLIENT, 53, 3000);

        assertThat(e).isGreaterThanOrEqualTo(0);
        assertThat(table.tupleInUse(0, UDP, CLIENT, DNS, 1000, 53)).isFalse();
        for (int i = 1; i < 4; i++)
        {
            assertThat(table.tupleInUse(0, UDP, CLIENT, DNS, 1000 + i, 53)).isTrue();
        }
    }

    @Test
    void shouldExpireIcmpAfter30sTcpSynAfter120sAndOtherProtocolsAfter600s()
    {
        table.insert(0, ICMP, CLIENT, EXTERNAL, 9, 9, EXTERNAL, NODE, 9, 9);
        table.insert(0, TCP, CLIENT, EXTERNAL, 7000, 443, EXTERNAL, NODE, 443, 7000);
        final int gre = table.insert(0, 47, CLIENT, EXTERNAL, 0, 0, EXTERNAL, CLIENT, 0, 0);
        table.update(gre, ORIGINAL, 0, 100);

        clock.advance(30 * SEC);
        assertThat(table.expire(1024)).as("icmp").isEqualTo(1);
        clock.advance(90 * SEC);
        assertThat(table.expire(1024)).as("tcp in NONE/SYN_SENT").isEqualTo(1);
        clock.advance(479 * SEC);
        assertThat(table.expire(1024)).isZero();
        clock.advance(1 * SEC);
        assertThat(table.expire(1024)).as("generic").isEqualTo(1);
    }

    @Test
    void shouldUseConfiguredTimeouts()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.fromSettings(Map.of("udpTimeout", 5L, "max", 64L)), clock);
        table.insert(0, UDP, CLIENT, DNS, 5000, 53, DNS, CLIENT, 53, 5000);
        clock.advance(5 * SEC);
        assertThat(table.expire(100)).isEqualTo(1);
        assertThat(table.capacity()).isEqualTo(64);
    }

    @Test
    void shouldTreatExpiredButUnsweptEntryAsMissAndReplaceItOnInsert()
    {
        final int old = table.insert(0, UDP, CLIENT, DNS, 5000, 53, DNS, CLIENT, 53, 5000);
        table.mark(old, 42);
        clock.advance(31 * SEC);
        final List<Integer> removed = new ArrayList<>();
        table.removalListener((t, e) -> removed.add(t.mark(e)));

        final int fresh = table.insert(0, UDP, CLIENT, DNS, 5000, 53, DNS, CLIENT, 53, 5000);

        assertThat(fresh).isGreaterThanOrEqualTo(0);
        assertThat(removed).as("the stale entry was removed and reported").containsExactly(42);
        assertThat(table.mark(fresh)).isZero();
        assertThat(table.size()).isEqualTo(1);
        assertThat(table.stats().insertFailed()).isZero();
    }

    @Test
    void shouldMissAnEntryWhoseTimeIsUpBeforeTheSweepRuns()
    {
        final int e = table.insert(0, UDP, CLIENT, DNS, 5000, 53, DNS, CLIENT, 53, 5000);
        table.update(e, ORIGINAL, 0, 60);
        clock.advance(30 * SEC - 1);
        assertThat(table.lookup(0, UDP, DNS, CLIENT, 53, 5000)).isEqualTo((long)e << 1 | REPLY);

        clock.advance(1);

        assertThat(table.lookup(0, UDP, DNS, CLIENT, 53, 5000)).as("time is up at 30 s").isEqualTo(MISS);
        assertThat(table.tupleInUse(0, UDP, CLIENT, DNS, 5000, 53)).isFalse();
        assertThat(table.size()).as("still there until the sweep").isEqualTo(1);
        assertThat(table.expire(1)).isEqualTo(1);
    }

    @Test
    void shouldExpireIncrementallyWithBoundedWorkPerCall()
    {
        for (int i = 0; i < 100; i++)
        {
            table.insert(0, UDP, CLIENT, DNS, 10000 + i, 53, DNS, CLIENT, 53, 10000 + i);
        }
        clock.advance(31 * SEC);
        final int[] told = new int[1];
        table.removalListener((t, e) -> told[0]++);

        int calls = 0;
        int total = 0;
        while (table.size() > 0)
        {
            final int removed = table.expire(16);
            assertThat(removed).as("at most the budget per call").isLessThanOrEqualTo(16);
            total += removed;
            calls++;
        }
        assertThat(total).isEqualTo(100);
        assertThat(calls).as("100 entries at 16 per call").isEqualTo(7);
        assertThat(told[0]).as("the listener hears of every expired entry").isEqualTo(100);
        assertThat(table.stats().deleted()).isEqualTo(100);
    }

    @Test
    void shouldFlushUdpEntriesOfRemovedEndpointOnly()
    {
        table.insert(0, UDP, CLIENT, VIP, 5000, 53, DNS, CLIENT, 53, 5000);
        table.insert(0, UDP, BACKEND, VIP, 5000, 53, DNS, BACKEND, 53, 5000);
        table.insert(0, UDP, CLIENT, VIP, 5001, 53, BACKEND, CLIENT, 53, 5001);
        table.insert(0, UDP, CLIENT, VIP, 5002, 54, DNS, CLIENT, 54, 5002);
        table.insert(0, TCP, CLIENT, VIP, 5000, 53, DNS, CLIENT, 53, 5000);
        final List<Integer> removed = new ArrayList<>();
        table.removalListener((t, e) -> removed.add(t.origSrcPort(e)));

        assertThat(table.flushUdpEndpoint(DNS, 53)).isEqualTo(2);

        assertThat(removed).containsExactly(5000, 5000);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 5000, 53)).isEqualTo(MISS);
        assertThat(table.lookup(0, UDP, BACKEND, VIP, 5000, 53)).isEqualTo(MISS);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 5001, 53)).as("other endpoint").isNotEqualTo(MISS);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 5002, 54)).as("other port").isNotEqualTo(MISS);
        assertThat(table.lookup(0, TCP, CLIENT, VIP, 5000, 53)).as("TCP is not flushed").isNotEqualTo(MISS);
        assertThat(table.size()).isEqualTo(3);
    }

    @Test
    void shouldTellListenerBeforeTheEntryIsReused()
    {
        final List<String> events = new ArrayList<>();
        table.removalListener((t, e) -> events.add(e + ":" + t.replyDstPort(e) + ":" + t.isLive(e)));
        final int a = table.insert(0, UDP, CLIENT, EXTERNAL, 5000, 53, EXTERNAL, NODE, 53, 61000);
        table.remove(a);
        table.remove(a); // a second remove is a no-op

        final int b = table.insert(0, UDP, CLIENT, EXTERNAL, 5001, 53, EXTERNAL, NODE, 53, 61001);

        assertThat(events).containsExactly(a + ":61000:true");
        assertThat(b).as("the freed record is reused").isEqualTo(a);
        assertThat(table.replyDstPort(b)).isEqualTo(61001);
    }

    @Test
    void shouldVisitLiveEntries()
    {
        final int a = serviceFlow(1);
        final int b = serviceFlow(2);
        final int c = serviceFlow(3);
        table.remove(b);
        final List<Integer> seen = new ArrayList<>();

        assertThat(table.forEach((t, e) -> seen.add(e))).isEqualTo(2);
        assertThat(seen).containsExactly(a, c);
        assertThat(table.forEach((t, e) -> t.remove(e))).as("a visitor may remove what it visits").isEqualTo(2);
        assertThat(table.size()).isZero();
    }

    @Test
    void shouldDumpInConntrackListFormat() throws IOException
    {
        final int tcp = serviceFlow(40000);
        table.update(tcp, ORIGINAL, 0x02, 60);
        table.update(tcp, REPLY, 0x12, 60);
        table.update(tcp, ORIGINAL, 0x10, 60);
        table.update(tcp, ORIGINAL, 0x18, 60);
        table.update(tcp, REPLY, 0x10, 60);
        final int udp = table.insert(0, UDP, CLIENT, DNS, 5353, 53, DNS, CLIENT, 53, 5353);
        table.update(udp, ORIGINAL, 0, 76);
        final int icmp = table.insert(3, ICMP, CLIENT, EXTERNAL, 77, 77, EXTERNAL, NODE, 1077, 1077);
        table.update(icmp, ORIGINAL, 0, 84);
        table.update(icmp, REPLY, 0, 84);
        table.mark(icmp, -1);
        clock.advance(SEC + SEC / 2);
        final StringBuilder out = new StringBuilder();

        table.dump(out);

        assertThat(out.toString()).isEqualTo(
            "tcp      6 86398 ESTABLISHED src=10.244.1.3 dst=10.96.0.10 sport=40000 dport=80 packets=3 bytes=180 "
                + "src=10.244.1.2 dst=10.244.1.3 sport=8080 dport=40000 packets=2 bytes=120 [ASSURED] mark=0 zone=0 "
                + "use=1\n"
                + "udp      17 28 src=10.244.1.3 dst=10.244.2.7 sport=5353 dport=53 packets=1 bytes=76 [UNREPLIED] "
                + "src=10.244.2.7 dst=10.244.1.3 sport=53 dport=5353 packets=0 bytes=0 mark=0 zone=0 use=1\n"
                + "icmp     1 28 src=10.244.1.3 dst=203.0.113.9 type=8 code=0 id=77 packets=1 bytes=84 "
                + "src=203.0.113.9 dst=192.168.1.10 type=0 code=0 id=1077 packets=1 bytes=84 mark=4294967295 zone=3 "
                + "use=1\n");
        assertThat(table.format(udp)).isEqualTo(out.toString().split("\n")[1]);
    }

    @Test
    void shouldCopyEntriesInBoundedChunksThatFormatAsTheDumpDoes() throws IOException
    {
        int removed = -1;
        for (int i = 0; i < 10; i++)
        {
            final int e = serviceFlow(41000 + i);
            removed = i == 3 ? e : removed;
        }
        table.remove(removed);
        final StringBuilder dump = new StringBuilder();
        table.dump(dump);
        final List<String> lines = new ArrayList<>();
        int calls = 0;
        for (int from = 0; from >= 0; calls++)
        {
            final List<ConntrackEntry> chunk = new ArrayList<>();
            from = table.entries(from, 3, chunk);
            assertThat(chunk).as("at most 3 entries a call").hasSizeLessThanOrEqualTo(3);
            chunk.forEach(e -> lines.add(e.format()));
        }

        assertThat(lines).as("every live entry once, in table order").hasSize(9)
            .containsExactly(dump.toString().split("\n"));
        assertThat(calls).isEqualTo(3);
    }

    @Test
    void shouldReportStatsLikeConntrackS()
    {
        serviceFlow(1);
        table.lookup(0, TCP, CLIENT, VIP, 1, 80);
        table.lookup(0, TCP, CLIENT, VIP, 2, 80);

        assertThat(table.stats()).isEqualTo(new ConntrackStats(1, 1, 0, 0, 0, 1, 0, 0));
        assertThat(table.stats().toString())
            .isEqualTo("found=1 invalid=0 insert=1 insert_failed=0 drop=0 early_drop=0 delete=0 search_miss=1");
    }

    @Test
    void shouldRoundCapacityUpToPowerOfTwo()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.builder().capacity(1000).build(), clock);
        assertThat(table.capacity()).isEqualTo(1024);
        assertThat(ConntrackConfig.defaults().capacity()).isEqualTo(262_144);
    }

    @Test
    void shouldReadKubeProxySettings()
    {
        final ConntrackConfig c = ConntrackConfig.fromSettings(Map.of(
            "tcpEstablishedTimeout", 3600L, "tcpCloseWaitTimeout", 0L, "udpTimeout", 10L, "udpStreamTimeout", 60L,
            "min", 131_072L, "maxPerCore", 0L));

        assertThat(c.tcpEstablished()).isEqualTo(3600);
        assertThat(c.tcpCloseWait()).as("0 keeps the default, as in kube-proxy").isEqualTo(3600);
        assertThat(c.udp()).isEqualTo(10);
        assertThat(c.udpStream()).isEqualTo(60);
        assertThat(c.capacity()).isEqualTo(131_072);
        assertThat(c.tcpTimeWait()).isEqualTo(120);
        assertThat(ConntrackConfig.fromSettings(Map.of()).sameSettings(ConntrackConfig.defaults())).isTrue();
        assertThat(ConntrackConfig.fromSettings(Map.of()).hashSeed()).as("a random hash secret for each table")
            .isNotEqualTo(ConntrackConfig.defaults().hashSeed());
        assertThatThrownBy(() -> ConntrackConfig.fromSettings(Map.of("tcpEstablished", 1L)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown conntrack setting");
        assertThatThrownBy(() -> ConntrackConfig.fromSettings(Map.of("udpTimeout", -1L)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("negative");
    }
}
