package dev.ferry.tapio;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Points pcap4j at the system's libpcap. Debian's runtime package ({@code libpcap0.8}) ships only the versioned
 * {@code libpcap.so.0.8}, without the {@code libpcap.so} link that the development package adds, so unless the
 * user chose a library with {@code -Dorg.pcap4j.core.pcapLibName}, the versioned file is named here.
 */
final class NativePcap
{
    private static final String PROPERTY = "org.pcap4j.core.pcapLibName";
    private static final String[] CANDIDATES = {
        "/usr/lib/x86_64-linux-gnu/libpcap.so",
        "/lib/x86_64-linux-gnu/libpcap.so",
        "/usr/lib/aarch64-linux-gnu/libpcap.so",
        "/usr/lib/libpcap.so",
        "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8",
        "/lib/x86_64-linux-gnu/libpcap.so.0.8",
        "/usr/lib/aarch64-linux-gnu/libpcap.so.0.8",
        "/usr/lib/libpcap.so.0.8",
        "/usr/lib/libpcap.so.1",
    };

    private NativePcap()
    {
    }

    /** Sets the pcap4j library property once, before pcap4j's native mappings load. */
    static synchronized void configure()
    {
        if (System.getProperty(PROPERTY) != null)
        {
            return;
        }
        for (final String candidate : CANDIDATES)
        {
            if (Files.exists(Path.of(candidate)))
            {
                System.setProperty(PROPERTY, candidate);
                return;
            }
        }
    }
}
