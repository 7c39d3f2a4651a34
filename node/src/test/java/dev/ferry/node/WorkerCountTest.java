package dev.ferry.node;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkerCountTest
{
    @TempDir
    Path root;

    private void write(final String file, final String text) throws Exception
    {
        final Path p = root.resolve(file);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
    }

    @Test
    void shouldLeaveOneCpuForControlAndKeepAtLeastOneWorker()
    {
        assertThat(WorkerCount.fromCpus(1)).isEqualTo(1);
        assertThat(WorkerCount.fromCpus(2)).isEqualTo(1);
        assertThat(WorkerCount.fromCpus(4)).isEqualTo(3);
        assertThat(WorkerCount.fromCpus(16)).isEqualTo(15);
        assertThat(WorkerCount.fromCpus(256)).as("at most MAX").isEqualTo(WorkerCount.MAX);
        assertThat(WorkerCount.cpus()).isBetween(1, Runtime.getRuntime().availableProcessors());
    }

    @Test
    void shouldReadTheSmallestCgroupV2QuotaRoundedUp() throws Exception
    {
        write("cpu.max", "max 100000\n");
        write("kubepods/cpu.max", "800000 100000\n");
        write("kubepods/pod1/cpu.max", "250000 100000\n");
        write("kubepods/pod1/ferry/cpu.max", "max 100000\n");

        assertThat(WorkerCount.quotaCpus(root, List.of("0::/kubepods/pod1/ferry")))
            .as("2.5 CPUs from the pod's cgroup, the tightest on the way up").isEqualTo(OptionalInt.of(3));
        assertThat(WorkerCount.quotaCpus(root, List.of("0::/kubepods"))).isEqualTo(OptionalInt.of(8));
        assertThat(WorkerCount.quotaCpus(root, List.of("0::/"))).as("no quota").isEmpty();
        assertThat(WorkerCount.quotaCpus(root, List.of("0::/elsewhere"))).as("no file, no quota").isEmpty();
    }

    @Test
    void shouldReadACgroupV1CfsQuota() throws Exception
    {
        write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        write("cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "400000\n");
        write("cpu,cpuacct/docker/c1/cpu.cfs_period_us", "100000\n");

        assertThat(WorkerCount.quotaCpus(root, List.of("4:memory:/docker/c1", "2:cpu,cpuacct:/docker/c1")))
            .isEqualTo(OptionalInt.of(4));
        assertThat(WorkerCount.quotaCpus(root, List.of("2:cpu,cpuacct:/"))).as("-1: no quota").isEmpty();
        assertThat(WorkerCount.quotaCpus(root, List.of("garbage", "1:cpu:/../../etc"))).isEmpty();
    }

    @Test
    void shouldRefuseCountsOutOfRange()
    {
        WorkerCount.check(1);
        assertThatThrownBy(() -> WorkerCount.check(0)).hasMessage("workers: 0 is out of range 1..64");
        assertThatThrownBy(() -> WorkerCount.check(WorkerCount.MAX + 1))
            .hasMessage("workers: 65 is out of range 1..64");
    }
}
