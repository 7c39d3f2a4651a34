package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The table's memory kinds: transparent huge pages (the default) are really granted by the kernel (counted in
 * {@code /proc/self/smaps}), hugetlb without a reserved pool falls back to them, and off gives ordinary memory; every
 * kind holds flows alike and is freed on close. The {@code hugePages} setting selects the kind.
 */
class TableMemoryTest
{
    private static final int CAPACITY = 1 << 16;   // 2 MiB of slots, 8 MiB of entries

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

    @Test
    void shouldGetTransparentHugePagesWhenTheKernelAllowsThem()
    {
        final String thp = TableMemory.thpMode();
        assumeTrue("always".equals(thp) || "madvise".equals(thp), "THP mode " + thp);
        for (int round = 0; round < 3; round++)
        {
            try (ConntrackTable t = table(ConntrackConfig.HugePages.TRANSPARENT))
            {
                assertThat(t.hugePageBytes()).as("AnonHugePages of the table's mappings").isGreaterThan(0);
                assertThat(t.memory())
                    .matches("transparent huge pages \\(([1-9][0-9]*) MiB of 10 MiB in huge pages now\\)");
                holdsFlows(t);
            }
        }
    }

    @Test
    void shouldFallBackFromAnEmptyHugetlbPool() throws IOException
    {
        assumeTrue("0".equals(Files.readString(Path.of("/proc/sys/vm/nr_hugepages")).trim()), "no reserved pool");
        assumeTrue(!"never".equals(TableMemory.thpMode()));
        try (ConntrackTable t = table(ConntrackConfig.HugePages.HUGETLB))
        {
            assertThat(t.memory()).startsWith("transparent huge pages (no hugetlb pages reserved) (");
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
