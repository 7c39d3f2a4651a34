package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Every Linux call that tap-io makes, declared once through the FFM API (no JNI), with {@code errno} captured.
 *
 * <p>Each binding takes a call-state segment ({@link #newCallState(Arena)}) as its first argument; after a call
 * that returned -1, {@link #errno(MemorySegment)} reads the error from it. A port allocates one call state and
 * reuses it, so the hot path neither allocates nor throws: callers compare the result and errno themselves.
 * Buffer pointers on the hot path ({@code read}, {@code write}, {@code readv}, {@code writev}, {@code poll},
 * {@code epoll_wait}, {@code sendmmsg}) are passed as raw addresses ({@code long}), so that no slice of the
 * packet pool is created per call; the caller keeps the memory alive and in bounds.
 */
@SuppressWarnings("restricted")
final class LinuxNative
{
    static final int O_RDONLY = 0;
    static final int O_WRONLY = 1;
    static final int O_RDWR = 2;
    static final int O_CREAT = 0100;
    static final int O_TRUNC = 01000;
    static final int O_NONBLOCK = 04000;
    static final int O_CLOEXEC = 02000000;

    static final int EINTR = 4;
    static final int EIO = 5;
    static final int ENXIO = 6;
    static final int EAGAIN = 11;
    static final int EBUSY = 16;
    static final int ENODEV = 19;
    static final int EINVAL = 22;
    static final int ENETDOWN = 100;
    static final int ENOBUFS = 105;

    static final int AF_INET = 2;
    static final int AF_PACKET = 17;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_RAW = 3;
    static final int SOCK_NONBLOCK = 04000;
    static final int SOCK_CLOEXEC = 02000000;
    static final int SOL_SOCKET = 1;
    static final int SO_ERROR = 4;
    static final int SO_RCVBUF = 8;

    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;
    static final int MAP_PRIVATE = 2;
    static final int MAP_ANONYMOUS = 0x20;
    static final long MAP_FAILED = -1L;

    static final short POLLIN = 1;
    static final short POLLOUT = 4;
    static final short POLLERR = 8;
    static final short POLLHUP = 16;
    static final short POLLNVAL = 32;

    static final int EPOLL_CLOEXEC = O_CLOEXEC;
    static final int EPOLL_CTL_ADD = 1;
    static final int EPOLL_CTL_DEL = 2;
    static final int EPOLL_CTL_MOD = 3;
    static final int EPOLLIN = 1;
    static final int EPOLLERR = 8;
    static final int EPOLLHUP = 16;

    static final int IFNAMSIZ = 16;
    /** {@code struct ifreq}: the name, then a 24-byte union. */
    static final int IFREQ_SIZE = 40;
    static final int IFF_UP = 1;
    static final int IFF_RUNNING = 0x40;
    static final long SIOCGIFFLAGS = 0x8913;
    static final long SIOCSIFFLAGS = 0x8914;
    static final long SIOCGIFMTU = 0x8921;
    static final long SIOCSIFMTU = 0x8922;
    static final long SIOCGIFHWADDR = 0x8927;
    static final long SIOCSIFTXQLEN = 0x8943;
    static final long SIOCSIFHWADDR = 0x8924;
    static final long SIOCGIFINDEX = 0x8933;
    static final int ARPHRD_ETHER = 1;

    static final int CLONE_NEWNET = 0x40000000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
        CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option ERRNO_OPTION = Linker.Option.captureCallState("errno");

    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfLong SIZE = ValueLayout.JAVA_LONG;
    private static final java.lang.foreign.AddressLayout P = ValueLayout.ADDRESS;

    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(I, P, I, I), 2);
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(I, I), -1);
    private static final MethodHandle FCNTL_INT = bind("fcntl", FunctionDescriptor.of(I, I, I, I), 2);
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(L, I, L, SIZE), -1);
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(L, I, L, SIZE), -1);
    private static final MethodHandle READV = bind("readv", FunctionDescriptor.of(L, I, L, I), -1);
    private static final MethodHandle WRITEV = bind("writev", FunctionDescriptor.of(L, I, L, I), -1);
    private static final MethodHandle IOCTL = bind("ioctl", FunctionDescriptor.of(I, I, L, P), 2);
    private static final MethodHandle SOCKET = bind("socket", FunctionDescriptor.of(I, I, I, I), -1);
    private static final MethodHandle BIND = bind("bind", FunctionDescriptor.of(I, I, P, I), -1);
    private static final MethodHandle SETSOCKOPT =
        bind("setsockopt", FunctionDescriptor.of(I, I, I, I, P, I), -1);
    private static final MethodHandle GETSOCKOPT =
        bind("getsockopt", FunctionDescriptor.of(I, I, I, I, P, P), -1);
    private static final MethodHandle MMAP = bind("mmap", FunctionDescriptor.of(L, P, SIZE, I, I, I, L), -1);
    private static final MethodHandle MUNMAP = bind("munmap", FunctionDescriptor.of(I, L, SIZE), -1);
    private static final MethodHandle POLL = bind("poll", FunctionDescriptor.of(I, L, L, I), -1);
    private static final MethodHandle EPOLL_CREATE1 = bind("epoll_create1", FunctionDescriptor.of(I, I), -1);
    private static final MethodHandle EPOLL_CTL = bind("epoll_ctl", FunctionDescriptor.of(I, I, I, I, P), -1);
    private static final MethodHandle EPOLL_WAIT = bind("epoll_wait", FunctionDescriptor.of(I, I, L, I, I), -1);
    private static final MethodHandle EVENTFD = bind("eventfd", FunctionDescriptor.of(I, I, I), -1);
    private static final MethodHandle IF_NAMETOINDEX = bind("if_nametoindex", FunctionDescriptor.of(I, P), -1);
    private static final MethodHandle SENDMMSG = bind("sendmmsg", FunctionDescriptor.of(I, I, L, I, I), -1);
    private static final MethodHandle SETNS = bind("setns", FunctionDescriptor.of(I, I, I), -1);
    private static final MethodHandle GETTID = bind("gettid", FunctionDescriptor.of(I), -1);
    private static final MethodHandle SETPRIORITY = bind("setpriority", FunctionDescriptor.of(I, I, I, I), -1);
    /** {@code setpriority}'s "which": a process, or on Linux a single thread by its tid. */
    static final int PRIO_PROCESS = 0;
    // glibc before 2.41 has no sched_setattr wrapper: the raw syscall (x86-64 numbers)
    private static final MethodHandle SYSCALL4 = bind("syscall", FunctionDescriptor.of(L, L, I, P, I, I), 1);
    static final long SYS_SCHED_SETATTR = 314;
    static final long SYS_SCHED_GETATTR = 315;
    private static final MethodHandle STRERROR = LINKER.downcallHandle(find("strerror"),
        FunctionDescriptor.of(P.withTargetLayout(MemoryLayout.sequenceLayout(256, ValueLayout.JAVA_BYTE)), I));

    private LinuxNative()
    {
    }

    private static MemorySegment find(final String name)
    {
        return LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
    }

    private static MethodHandle bind(final String name, final FunctionDescriptor fd, final int firstVariadic)
    {
        final Linker.Option[] options = firstVariadic < 0 ? new Linker.Option[] {ERRNO_OPTION} :
            new Linker.Option[] {ERRNO_OPTION, Linker.Option.firstVariadicArg(firstVariadic)};
        return LINKER.downcallHandle(find(name), fd, options);
    }

    /**
     * @param arena where to allocate.
     * @return a segment that receives errno after each call.
     */
    static MemorySegment newCallState(final Arena arena)
    {
        return arena.allocate(CALL_STATE);
    }

    /**
     * @param state the call state passed to the last call.
     * @return the errno that call left.
     */
    static int errno(final MemorySegment state)
    {
        return (int)ERRNO.get(state, 0L);
    }

    /**
     * @param errno an error number.
     * @return the C library's words for it.
     */
    static String strerror(final int errno)
    {
        try
        {
            final MemorySegment s = (MemorySegment)STRERROR.invokeExact(errno);
            return s.getString(0);
        }
        catch (final Throwable t)
        {
            return "error " + errno;
        }
    }

    /**
     * Throws when a setup call failed.
     *
     * @param rc    the call's result.
     * @param state the call state.
     * @param call  what to name in the message.
     * @return {@code rc} when it is not negative.
     * @throws NativeException when {@code rc < 0}.
     */
    static long check(final long rc, final MemorySegment state, final String call) throws NativeException
    {
        if (rc < 0)
        {
            throw new NativeException(call, errno(state));
        }
        return rc;
    }

    private static RuntimeException rethrow(final Throwable t)
    {
        if (t instanceof RuntimeException r)
        {
            return r;
        }
        if (t instanceof Error e)
        {
            throw e;
        }
        return new IllegalStateException(t);
    }

    static int open(final MemorySegment st, final MemorySegment path, final int flags, final int mode)
    {
        try
        {
            return (int)OPEN.invokeExact(st, path, flags, mode);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /** {@code fcntl} command: a new descriptor for the same open file, close-on-exec. */
    static final int F_DUPFD_CLOEXEC = 1030;

    /**
     * @param st call state (errno).
     * @param fd an open descriptor.
     * @return a second descriptor of the same open file (close-on-exec), or -1.
     */
    static int dupCloexec(final MemorySegment st, final int fd)
    {
        try
        {
            return (int)FCNTL_INT.invokeExact(st, fd, F_DUPFD_CLOEXEC, 0);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int close(final MemorySegment st, final int fd)
    {
        try
        {
            return (int)CLOSE.invokeExact(st, fd);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static long read(final MemorySegment st, final int fd, final long address, final long length)
    {
        try
        {
            return (long)READ.invokeExact(st, fd, address, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static long write(final MemorySegment st, final int fd, final long address, final long length)
    {
        try
        {
            return (long)WRITE.invokeExact(st, fd, address, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static long readv(final MemorySegment st, final int fd, final long iov, final int count)
    {
        try
        {
            return (long)READV.invokeExact(st, fd, iov, count);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static long writev(final MemorySegment st, final int fd, final long iov, final int count)
    {
        try
        {
            return (long)WRITEV.invokeExact(st, fd, iov, count);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /** ioctl with a pointer argument; pass {@code MemorySegment.ofAddress(v)} for calls that take a value. */
    static int ioctl(final MemorySegment st, final int fd, final long request, final MemorySegment arg)
    {
        try
        {
            return (int)IOCTL.invokeExact(st, fd, request, arg);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int socket(final MemorySegment st, final int domain, final int type, final int protocol)
    {
        try
        {
            return (int)SOCKET.invokeExact(st, domain, type, protocol);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int bind(final MemorySegment st, final int fd, final MemorySegment addr, final int length)
    {
        try
        {
            return (int)BIND.invokeExact(st, fd, addr, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int setsockopt(final MemorySegment st, final int fd, final int level, final int name,
        final MemorySegment value, final int length)
    {
        try
        {
            return (int)SETSOCKOPT.invokeExact(st, fd, level, name, value, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int getsockopt(final MemorySegment st, final int fd, final int level, final int name,
        final MemorySegment value, final MemorySegment length)
    {
        try
        {
            return (int)GETSOCKOPT.invokeExact(st, fd, level, name, value, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /** @return the mapped address, or {@link #MAP_FAILED}. */
    static long mmap(final MemorySegment st, final long length, final int prot, final int flags, final int fd,
        final long offset)
    {
        try
        {
            return (long)MMAP.invokeExact(st, MemorySegment.NULL, length, prot, flags, fd, offset);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int munmap(final MemorySegment st, final long address, final long length)
    {
        try
        {
            return (int)MUNMAP.invokeExact(st, address, length);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int poll(final MemorySegment st, final long fds, final long count, final int timeoutMillis)
    {
        try
        {
            return (int)POLL.invokeExact(st, fds, count, timeoutMillis);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int gettid(final MemorySegment st)
    {
        try
        {
            return (int)GETTID.invokeExact(st);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int setpriority(final MemorySegment st, final int which, final int who, final int nice)
    {
        try
        {
            return (int)SETPRIORITY.invokeExact(st, which, who, nice);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /**
     * {@code syscall(number, int, pointer, int, int)}: sched_setattr (pid, attr, flags; the last argument unused)
     * and sched_getattr (pid, attr, size, flags), which older glibc does not wrap.
     */
    static long syscall(final MemorySegment st, final long number, final int a, final MemorySegment b, final int c,
        final int d)
    {
        try
        {
            return (long)SYSCALL4.invokeExact(st, number, a, b, c, d);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int eventfd(final MemorySegment st, final int initial, final int flags)
    {
        try
        {
            return (int)EVENTFD.invokeExact(st, initial, flags);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int epollCreate1(final MemorySegment st, final int flags)
    {
        try
        {
            return (int)EPOLL_CREATE1.invokeExact(st, flags);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int epollCtl(final MemorySegment st, final int epfd, final int op, final int fd,
        final MemorySegment event)
    {
        try
        {
            return (int)EPOLL_CTL.invokeExact(st, epfd, op, fd, event);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int epollWait(final MemorySegment st, final int epfd, final long events, final int max,
        final int timeoutMillis)
    {
        try
        {
            return (int)EPOLL_WAIT.invokeExact(st, epfd, events, max, timeoutMillis);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /** @return the interface index, or 0 when there is no such interface (errno ENODEV). */
    static int ifNameToIndex(final MemorySegment st, final MemorySegment name)
    {
        try
        {
            return (int)IF_NAMETOINDEX.invokeExact(st, name);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int sendmmsg(final MemorySegment st, final int fd, final long msgvec, final int count, final int flags)
    {
        try
        {
            return (int)SENDMMSG.invokeExact(st, fd, msgvec, count, flags);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    static int setns(final MemorySegment st, final int fd, final int nstype)
    {
        try
        {
            return (int)SETNS.invokeExact(st, fd, nstype);
        }
        catch (final Throwable t)
        {
            throw rethrow(t);
        }
    }

    /**
     * Builds a {@code struct ifreq} with the name filled in.
     *
     * @param arena where to allocate.
     * @param name  interface name, under 16 bytes.
     * @return the zeroed request with its name set.
     */
    static MemorySegment ifreq(final Arena arena, final String name)
    {
        final byte[] bytes = name.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        if (bytes.length >= IFNAMSIZ || bytes.length == 0)
        {
            throw new IllegalArgumentException("interface name must have 1 to 15 characters: " + name);
        }
        final MemorySegment ifr = arena.allocate(IFREQ_SIZE, 8);
        MemorySegment.copy(bytes, 0, ifr, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return ifr;
    }
}
