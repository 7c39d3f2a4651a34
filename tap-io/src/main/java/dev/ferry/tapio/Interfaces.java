package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Interface queries and settings through {@code ioctl} on an {@code AF_INET} datagram socket, in this process's
 * network namespace (control path: each call opens and closes its own socket).
 */
final class Interfaces
{
    /** {@link #flags} of an interface that does not exist. */
    static final int NO_SUCH_INTERFACE = -1;

    private Interfaces()
    {
    }

    /**
     * @param name interface name.
     * @return its index, or 0 when there is no such interface.
     */
    static int index(final String name)
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(arena);
            return LinuxNative.ifNameToIndex(st, arena.allocateFrom(name));
        }
    }

    /**
     * @param name interface name.
     * @return its flags ({@code IFF_UP}, {@code IFF_RUNNING}, ...), or {@link #NO_SUCH_INTERFACE}.
     * @throws NativeException when the socket cannot be opened or the ioctl fails for another reason.
     */
    static int flags(final String name) throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(arena);
            final int s = socket(st);
            try
            {
                final MemorySegment ifr = LinuxNative.ifreq(arena, name);
                if (LinuxNative.ioctl(st, s, LinuxNative.SIOCGIFFLAGS, ifr) < 0)
                {
                    final int e = LinuxNative.errno(st);
                    if (e == LinuxNative.ENODEV || e == LinuxNative.ENXIO)
                    {
                        return NO_SUCH_INTERFACE;
                    }
                    throw new NativeException("ioctl(SIOCGIFFLAGS, " + name + ")", e);
                }
                return ifr.get(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ) & 0xffff;
            }
            finally
            {
                LinuxNative.close(st, s);
            }
        }
    }

    /**
     * @param name interface name.
     * @return its MTU.
     * @throws NativeException when the ioctl fails.
     */
    static int mtu(final String name) throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(arena);
            final int s = socket(st);
            try
            {
                final MemorySegment ifr = LinuxNative.ifreq(arena, name);
                LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCGIFMTU, ifr), st,
                    "ioctl(SIOCGIFMTU, " + name + ")");
                return ifr.get(ValueLayout.JAVA_INT, LinuxNative.IFNAMSIZ);
            }
            finally
            {
                LinuxNative.close(st, s);
            }
        }
    }

    /**
     * @param name interface name.
     * @return its MAC as 48 bits.
     * @throws NativeException when the ioctl fails.
     */
    static long mac(final String name) throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(arena);
            final int s = socket(st);
            try
            {
                final MemorySegment ifr = LinuxNative.ifreq(arena, name);
                LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCGIFHWADDR, ifr), st,
                    "ioctl(SIOCGIFHWADDR, " + name + ")");
                long mac = 0;
                for (int i = 0; i < 6; i++)
                {
                    mac = mac << 8 | (ifr.get(ValueLayout.JAVA_BYTE, LinuxNative.IFNAMSIZ + 2 + i) & 0xff);
                }
                return mac;
            }
            finally
            {
                LinuxNative.close(st, s);
            }
        }
    }

    /**
     * Sets the MTU and the transmit queue length (when positive) and brings the interface up (when asked).
     *
     * @param name interface name.
     * @param mtu  new MTU, or 0 to leave it.
     * @param up   whether to set {@code IFF_UP}.
     * @param txQueueLength the device's transmit queue length ({@code txqueuelen}), or 0 to leave it.
     * @throws NativeException when an ioctl fails.
     */
    static void configure(final String name, final int mtu, final boolean up, final int txQueueLength)
        throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(arena);
            final int s = socket(st);
            try
            {
                final MemorySegment ifr = LinuxNative.ifreq(arena, name);
                if (mtu > 0)
                {
                    ifr.set(ValueLayout.JAVA_INT, LinuxNative.IFNAMSIZ, mtu);
                    LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCSIFMTU, ifr), st,
                        "ioctl(SIOCSIFMTU, " + name + ", " + mtu + ")");
                }
                if (txQueueLength > 0)
                {
                    ifr.set(ValueLayout.JAVA_INT, LinuxNative.IFNAMSIZ, txQueueLength);
                    LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCSIFTXQLEN, ifr), st,
                        "ioctl(SIOCSIFTXQLEN, " + name + ", " + txQueueLength + ")");
                }
                if (up)
                {
                    LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCGIFFLAGS, ifr), st,
                        "ioctl(SIOCGIFFLAGS, " + name + ")");
                    final short flags = ifr.get(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ);
                    ifr.set(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ, (short)(flags | LinuxNative.IFF_UP));
                    LinuxNative.check(LinuxNative.ioctl(st, s, LinuxNative.SIOCSIFFLAGS, ifr), st,
                        "ioctl(SIOCSIFFLAGS, " + name + ", up)");
                }
            }
            finally
            {
                LinuxNative.close(st, s);
            }
        }
    }

    private static int socket(final MemorySegment st) throws NativeException
    {
        return (int)LinuxNative.check(LinuxNative.socket(st, LinuxNative.AF_INET,
            LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_CLOEXEC, 0), st, "socket(AF_INET, SOCK_DGRAM)");
    }
}
