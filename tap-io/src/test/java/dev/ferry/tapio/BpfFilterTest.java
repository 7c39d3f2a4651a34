package dev.ferry.tapio;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class BpfFilterTest
{
    @BeforeAll
    static void needsLibpcap()
    {
        assumeTrue(Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libpcap.so.0.8"))
            || Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libpcap.so.1")),
            "libpcap (Debian libpcap0.8) is not installed: BPF compilation cannot be tested");
    }

    private static byte[] tcp(final String src, final String dst, final int sport, final int dport)
    {
        return new FrameBuilder().eth(Ip4.parseMac("02:00:00:00:00:01"), Ip4.parseMac("02:00:00:00:00:02"))
            .ip4(Ip4.parse(src), Ip4.parse(dst)).tcp(sport, dport, 0x02, 1, 0).build();
    }

    @Test
    void shouldMatchAsTcpdumpWould()
    {
        final byte[] dns = TestFiles.udpFrame(1);
        final byte[] web = tcp("10.244.1.2", "10.96.0.20", 40000, 80);
        final byte[] other = tcp("10.244.1.2", "10.244.2.3", 40000, 443);

        final BpfFilter udp53 = BpfFilter.compile("udp and port 53");
        final BpfFilter tcp80 = BpfFilter.compile("tcp port 80");
        final BpfFilter net = BpfFilter.compile("dst net 10.96.0.0/12");

        assertThat(udp53.matches(dns, dns.length)).isTrue();
        assertThat(udp53.matches(web, web.length)).isFalse();
        assertThat(tcp80.matches(web, web.length)).isTrue();
        assertThat(tcp80.matches(other, other.length)).isFalse();
        assertThat(tcp80.matches(dns, dns.length)).isFalse();
        assertThat(net.matches(web, web.length)).isTrue();
        assertThat(net.matches(other, other.length)).isFalse();
        // a frame cut short cannot match a port test: libpcap's bpf_filter rejects reads past the end
        assertThat(tcp80.matches(web, 30)).isFalse();
    }

    @Test
    void shouldReportABadExpressionInOneLine()
    {
        assertThatThrownBy(() -> BpfFilter.compile("tcp portt 80")).isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("--filter 'tcp portt 80': ");
    }
}
