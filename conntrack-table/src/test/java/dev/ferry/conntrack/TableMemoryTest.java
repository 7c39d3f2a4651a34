package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The table's memory kinds: transparent huge pages (the default) are really granted by the kernel (counted in
 * {@code /proc/self/smaps}), hugetlb without a reserved pool falls back to them, and off gives ordinary memory; every
 * kind holds flows alike and is freed on close. The {@code hugePages} setting selects the kind.
 */
class TableMemoryTest
{
    private static final int CAPACITY = 1 << 16;   // 8 MiB of slots, 8 MiB of entries

    private static ConntrackTable table(final ConntrackConfig.HugePages mode)
    {
        return new ConntrackTable(ConntrackConfig.builder().capacity(CAPACITY).hugePages(mode).build(),
            new ManualClock(1L));
    }

    /** Fills the table and finds every flow from both directions. */
    private static void holdsFlows(final ConntrackTable t)
    {
        for (int i = 0; i < CAPACITY; i++)
        {
            assertThat(t.insert(0, ConntrackTable.TCP, 0x0a000000 + i, 0x0a600001, 40000, 80, 0x0af40001,
                0x0a000000 + i, 8080, 40000)).isEqualTo(i);
        }
        for (int i = 0; i < CAPACITY; i += 97)
        {
            assertThat(t.lookup(0, ConntrackTable.TCP, 0x0a000000 + i, 0x0a600001, 40000, 80)).isEqualTo((long)i << 1);
            assertThat(t.lookup(0, ConntrackTable.TCP, 0x0af40001, 0x0a000000 + i, 8080, 40000))
                .isEqualTo((long)i << 1 | 1);
        }
    }

    // No test here skips (CI fails on a skip): each one asserts what the kernel it runs on must give.

    @Test
    void shouldGetTransparentHugePagesWhenTheKernelAllowsThem()
    {
        final String thp = TableMemory.thpMode();
        if ("never".equals(thp))
        {
            try (ConntrackTable t = table(ConntrackConfig.HugePages.TRANSPARENT))
            {
                assertThat(t.memory()).isEqualTo("4 KiB pages (transparent huge pages are off in the kernel)");
                holdsFlows(t);
            }
            return;
        }
        // the kernel may not find a free 2 MiB page at one moment (fragmented memory), so one grant in three suffices
        int granted = 0;
        for (int round = 0; round < 3; round++)
        {
            try (ConntrackTable t = table(ConntrackConfig.HugePages.TRANSPARENT))
            {
                assertThat(t.memory()).matches("transparent huge pages \\(([0-9]+) MiB of 16 MiB in huge pages now\\)");
                granted += t.hugePageBytes() > 0 ? 1 : 0;
                holdsFlows(t);
            }
        }
        assertThat(granted).as("rounds whose table got AnonHugePages (THP mode %s)", thp).isPositive();
    }

    @Test
    void shouldUseTheHugetlbPoolOrFallBackFromAnEmptyOne() throws IOException
    {
        final boolean pool = !"0".equals(Files.readString(Path.of("/proc/sys/vm/nr_hugepages")).trim());
        try (ConntrackTable t = table(ConntrackConfig.HugePages.HUGETLB))
        {
            if (t.memory().startsWith("hugetlb"))
            {
                assertThat(pool).as("hugetlb pages only from a reserved pool").isTrue();
            }
            else if ("never".equals(TableMemory.thpMode()))
            {
                assertThat(t.memory()).startsWith("4 KiB pages (transparent huge pages are off in the kernel); "
                    + "no hugetlb pages reserved");
            }
            else
            {
                // an empty pool, or one too small for 16 MiB
                assertThat(t.memory()).startsWith("transparent huge pages (no hugetlb pages reserved) (");
            }
            holdsFlows(t);
        }
    }

    @Test
    void shouldUseOrdinaryMemoryWhenOff()
    {
        try (ConntrackTable t = table(ConntrackConfig.HugePages.OFF))
        {
            assertThat(t.memory()).isEqualTo("4 KiB pages (hugePages off)");
            holdsFlows(t);
        }
    }

    @Test
    void shouldReadTheSetting()
    {
        assertThat(ConntrackConfig.defaults().hugePages()).isEqualTo(ConntrackConfig.HugePages.TRANSPARENT);
        assertThat(ConntrackConfig.fromSettings(Map.of("hugePages", 0L)).hugePages())
            .isEqualTo(ConntrackConfig.HugePages.TRANSPARENT);
        assertThat(ConntrackConfig.fromSettings(Map.of("hugePages", 2L)).hugePages())
            .isEqualTo(ConntrackConfig.HugePages.HUGETLB);
        assertThat(ConntrackConfig.fromSettings(Map.of("hugePages", 3L)).hugePages())
            .isEqualTo(ConntrackConfig.HugePages.OFF);
        assertThatThrownBy(() -> ConntrackConfig.fromSettings(Map.of("hugePages", 4L)))
            .hasMessageContaining("hugePages must be 0 or 1 (transparent), 2 (hugetlb) or 3 (off), not 4");
    }
}
