package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ConntrackTableTest
{
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int BACKEND = Ip4.parse("10.244.1.2");

    private final ManualClock clock = new ManualClock(1_000_000_000_000L);
    private final ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(1024).build(), clock);

    @AfterEach
    void close()
    {
        table.close();
    }

    @Test
    void shouldFindEntryFromBothDirections()
    {
        final int e = table.insert(0, 6, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        assertThat(e).as("entry index").isGreaterThanOrEqualTo(0);

        final long orig = table.lookup(0, 6, CLIENT, VIP, 40000, 80);
        final long reply = table.lookup(0, 6, BACKEND, CLIENT, 8080, 40000);

        assertThat(orig).isEqualTo((long)e << 1 | ConntrackTable.ORIGINAL);
        assertThat(reply).isEqualTo((long)e << 1 | ConntrackTable.REPLY);
        assertThat(ConntrackTable.entryOf(reply)).isEqualTo(e);
        assertThat(ConntrackTable.directionOf(reply)).isEqualTo(ConntrackTable.REPLY);
        assertThat(table.lookup(0, 6, CLIENT, VIP, 40001, 80)).isEqualTo(ConntrackTable.MISS);
        assertThat(table.replySrc(e)).isEqualTo(BACKEND);
        assertThat(table.replySrcPort(e)).isEqualTo(8080);
        assertThat(table.origDstPort(e)).isEqualTo(80);
        assertThat(table.size()).isEqualTo(1);

        table.remove(e);
        assertThat(table.lookup(0, 6, CLIENT, VIP, 40000, 80)).isEqualTo(ConntrackTable.MISS);
        assertThat(table.lookup(0, 6, BACKEND, CLIENT, 8080, 40000)).isEqualTo(ConntrackTable.MISS);
        assertThat(table.size()).isZero();
    }
}
