package dev.ferry.node;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * How packet mode keeps the node's kernel off the uplink where tc matchall is missing (the lab's kernel): it sets
 * rp_filter 1 and arp_ignore 8, or, where /proc/sys is read-only (a container: podman, the DaemonSet), accepts
 * them when they are already set. The host is a fake that keeps /proc/sys in a map.
 */
class KernelGuardTest
{
    private static final String RP = "/proc/sys/net/ipv4/conf/fl-br1/rp_filter";
    private static final String ARP = "/proc/sys/net/ipv4/conf/fl-br1/arp_ignore";

    /** A host without cls_matchall, whose /proc/sys may be read-only. */
    private static final class Host implements HostNetwork.Runner
    {
        final Map<String, String> procSys = new HashMap<>();
        final List<String> ran = new ArrayList<>();
        boolean procSysWritable;

        @Override
        public boolean run(final List<String> command)
        {
            ran.add(String.join(" ", command));
            return switch (command.getFirst())
            {
                case "tc" -> !command.contains("matchall");
                case "sysctl" ->
                {
                    if (procSysWritable)
                    {
                        procSys.put(RP, "1");
                        procSys.put(ARP, "8");
                    }
                    yield procSysWritable;
                }
                case "grep" -> command.get(2).equals(procSys.get(command.get(3)));
                default -> true;
            };
        }
    }

    private static HostNetwork.KernelGuard take(final Host host)
    {
        return new HostNetwork(NodeConfig.defaults("node1", Path.of("/run/ferry/ferry.sock"), "fl-br1"), host)
            .takeUplink();
    }

    @Test
    void shouldSetTheSysctlsWhereProcSysIsWritable()
    {
        final Host host = new Host();
        host.procSysWritable = true;
        assertThat(take(host)).isEqualTo(HostNetwork.KernelGuard.RP_FILTER_ARP_IGNORE);
        assertThat(host.procSys).containsEntry(RP, "1").containsEntry(ARP, "8");
    }

    @Test
    void shouldAcceptSysctlsSetBeforehandWhenProcSysIsReadOnly()
    {
        final Host host = new Host();
        host.procSys.put(RP, "1");
        host.procSys.put(ARP, "8");
        assertThat(take(host)).isEqualTo(HostNetwork.KernelGuard.RP_FILTER_ARP_IGNORE_PRESET);
        assertThat(HostNetwork.KernelGuard.RP_FILTER_ARP_IGNORE_PRESET.description()).contains("already set");
    }

    @Test
    void shouldWarnWhenReadOnlyAndNotSetOrOnlyLoose()
    {
        final Host unset = new Host();
        unset.procSys.put(RP, "0");
        unset.procSys.put(ARP, "0");
        assertThat(take(unset)).isEqualTo(HostNetwork.KernelGuard.NONE);
        // loose reverse-path filtering (2) lets the kernel answer: not enough
        final Host loose = new Host();
        loose.procSys.put(RP, "2");
        loose.procSys.put(ARP, "8");
        assertThat(take(loose)).isEqualTo(HostNetwork.KernelGuard.NONE);
        final Host noArpIgnore = new Host();
        noArpIgnore.procSys.put(RP, "1");
        noArpIgnore.procSys.put(ARP, "0");
        assertThat(take(noArpIgnore)).isEqualTo(HostNetwork.KernelGuard.NONE);
    }
}
