package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Exercises the bindings that the ports do not reach in their own tests, for real (no root needed). */
class LinuxNativeTest
{
    @TempDir
    Path dir;

    @Test
    void shouldWriteAndReadScatteredBuffersWithWritevAndReadv() throws Exception
    {
        final Path file = dir.resolve("iov");
        try (Arena a = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(a);
            final int fd = (int)LinuxNative.check(LinuxNative.open(st, a.allocateFrom(file.toString()),
                LinuxNative.O_CREAT | LinuxNative.O_TRUNC | LinuxNative.O_RDWR | LinuxNative.O_CLOEXEC, 0600), st,
                "open");
            final MemorySegment head = a.allocateFrom("virtio-", StandardCharsets.US_ASCII);
            final MemorySegment body = a.allocateFrom("frame", StandardCharsets.US_ASCII);
            final MemorySegment iov = a.allocate(32, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, head.address());
            iov.set(ValueLayout.JAVA_LONG, 8, 7);
            iov.set(ValueLayout.JAVA_LONG, 16, body.address());
            iov.set(ValueLayout.JAVA_LONG, 24, 5);
            assertThat(LinuxNative.writev(st, fd, iov.address(), 2)).isEqualTo(12);
            assertThat(LinuxNative.close(st, fd)).isZero();
            assertThat(Files.readString(file)).isEqualTo("virtio-frame");

            final int in = (int)LinuxNative.check(LinuxNative.open(st, a.allocateFrom(file.toString()),
                LinuxNative.O_RDONLY | LinuxNative.O_CLOEXEC, 0), st, "open");
            final MemorySegment first = a.allocate(4);
            final MemorySegment rest = a.allocate(16);
            iov.set(ValueLayout.JAVA_LONG, 0, first.address());
            iov.set(ValueLayout.JAVA_LONG, 8, 4);
            iov.set(ValueLayout.JAVA_LONG, 16, rest.address());
            iov.set(ValueLayout.JAVA_LONG, 24, 16);
            assertThat(LinuxNative.readv(st, in, iov.address(), 2)).isEqualTo(12);
            assertThat(new String(first.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII)).isEqualTo("virt");
            assertThat(rest.getString(0, StandardCharsets.US_ASCII)).isEqualTo("io-frame");
            LinuxNative.close(st, in);
        }
    }

    @Test
    void shouldMapAndUnmapAnonymousMemory()
    {
        try (Arena a = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(a);
            final long addr = LinuxNative.mmap(st, 1 << 16, LinuxNative.PROT_READ | LinuxNative.PROT_WRITE,
                LinuxNative.MAP_PRIVATE | LinuxNative.MAP_ANONYMOUS, -1, 0);
            assertThat(addr).isNotEqualTo(LinuxNative.MAP_FAILED);
            final MemorySegment m = reinterpret(addr, 1 << 16);
            m.set(ValueLayout.JAVA_LONG, 4096, 0x0123_4567_89abL);
            assertThat(m.get(ValueLayout.JAVA_LONG, 4096)).isEqualTo(0x0123_4567_89abL);
            assertThat(LinuxNative.munmap(st, addr, 1 << 16)).isZero();
        }
    }

    @SuppressWarnings("restricted")
    private static MemorySegment reinterpret(final long addr, final long size)
    {
        return MemorySegment.ofAddress(addr).reinterpret(size);
    }

    @Test
    void shouldWaitInEpollAndReadADatagramFromALoopbackSocket() throws Exception
    {
        try (Arena a = Arena.ofConfined(); Epoll epoll = new Epoll(4);
            DatagramSocket sender = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)))
        {
            final MemorySegment st = LinuxNative.newCallState(a);
            final int s = (int)LinuxNative.check(LinuxNative.socket(st, LinuxNative.AF_INET,
                LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_NONBLOCK | LinuxNative.SOCK_CLOEXEC, 0), st, "socket");
            try
            {
                // struct sockaddr_in for 127.0.0.1, port 0 (the kernel picks one)
                final MemorySegment sin = a.allocate(16, 4);
                sin.set(ValueLayout.JAVA_SHORT, 0, (short)LinuxNative.AF_INET);
                sin.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 4, 0x7f00_0001);
                LinuxNative.check(LinuxNative.bind(st, s, sin, 16), st, "bind");
                final MemorySegment rcvbuf = a.allocateFrom(ValueLayout.JAVA_INT, 1 << 16);
                LinuxNative.check(LinuxNative.setsockopt(st, s, LinuxNative.SOL_SOCKET, LinuxNative.SO_RCVBUF, rcvbuf,
                    4), st, "setsockopt");
                final MemorySegment got = a.allocate(ValueLayout.JAVA_INT);
                final MemorySegment len = a.allocateFrom(ValueLayout.JAVA_INT, 4);
                LinuxNative.check(LinuxNative.getsockopt(st, s, LinuxNative.SOL_SOCKET, LinuxNative.SO_RCVBUF, got,
                    len), st, "getsockopt");
                assertThat(got.get(ValueLayout.JAVA_INT, 0)).as("the kernel doubles SO_RCVBUF").isEqualTo(1 << 17);
                final int port = boundPort(s);

                epoll.add(s, 42L);
                assertThat(epoll.await(0)).as("nothing to read yet").isZero();
                final byte[] msg = "through-epoll".getBytes(StandardCharsets.US_ASCII);
                sender.send(new DatagramPacket(msg, msg.length, InetAddress.getLoopbackAddress(), port));
                assertThat(epoll.await(2000)).isEqualTo(1);
                assertThat(epoll.token(0)).isEqualTo(42L);
                assertThat(epoll.events(0) & Epoll.IN).isNotZero();

                final MemorySegment buf = a.allocate(64);
                assertThat(LinuxNative.read(st, s, buf.address(), 64)).isEqualTo(msg.length);
                assertThat(buf.asSlice(0, msg.length).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(msg);
                assertThat(LinuxNative.read(st, s, buf.address(), 64)).isEqualTo(-1);
                assertThat(LinuxNative.errno(st)).isEqualTo(LinuxNative.EAGAIN);
                epoll.remove(s);
            }
            finally
            {
                LinuxNative.close(st, s);
            }
        }
    }

    /** Reads the socket's port back through /proc, so that no getsockname binding exists just for a test. */
    private static int boundPort(final int fd)
    {
        try
        {
            final String inode = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString()
                .replaceAll("\\D", "");
            for (final String line : Files.readAllLines(Path.of("/proc/self/net/udp")))
            {
                final String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[9].equals(inode))
                {
                    return Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16);
                }
            }
        }
        catch (final java.io.IOException e)
        {
            throw new AssertionError(e);
        }
        throw new AssertionError("socket " + fd + " not in /proc/self/net/udp");
    }

    @Test
    void shouldCarryErrnoAndTheCLibrarysWords()
    {
        try (Arena a = Arena.ofConfined())
        {
            final MemorySegment st = LinuxNative.newCallState(a);
            assertThat(LinuxNative.close(st, -1)).isEqualTo(-1);
            assertThat(LinuxNative.errno(st)).isEqualTo(9);
            assertThatThrownBy(() -> LinuxNative.check(-1, st, "close(-1)")).isInstanceOf(NativeException.class)
                .hasMessage("close(-1): Bad file descriptor (errno 9)");
            assertThat(LinuxNative.ifNameToIndex(st, a.allocateFrom("lo"))).isEqualTo(1);
            assertThat(LinuxNative.ifNameToIndex(st, a.allocateFrom("ferry-tio-none"))).isZero();
            assertThat(LinuxNative.errno(st)).isEqualTo(LinuxNative.ENODEV);
            assertThat(LinuxNative.write(st, -1, 0L, 0L)).isEqualTo(-1);
            assertThat(LinuxNative.poll(st, 0L, 0, 0)).isZero();
            assertThat(LinuxNative.sendmmsg(st, -1, 0L, 0, 0)).isEqualTo(-1);
            assertThat(LinuxNative.errno(st)).isEqualTo(9);
        }
    }

    @Test
    void shouldReadTheLoopbackInterfaceThroughIoctl() throws NativeException
    {
        assertThat(Interfaces.index("lo")).isEqualTo(1);
        assertThat(Interfaces.flags("lo") & LinuxNative.IFF_UP).isNotZero();
        assertThat(Interfaces.mtu("lo")).isEqualTo(65536);
        assertThat(Interfaces.mac("lo")).isZero();
        assertThat(Interfaces.flags("ferry-tio-none")).isEqualTo(Interfaces.NO_SUCH_INTERFACE);
    }
}
