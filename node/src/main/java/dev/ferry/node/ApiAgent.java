package dev.ferry.node;

import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.agrona.concurrent.Agent;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.logging.Logger;

/**
 * The API agent: a non-blocking Unix-socket server of newline-delimited JSON, and the control thread itself
 * (it runs the control tasks that the worker's answers continue with). Never blocks, so that it can share a
 * thread with the worker ({@link ThreadingMode#SHARED}).
 *
 * <pre>
 *  client ─line─► read ─► protocol.handle ─► future ─┐  (answers go out in request order per connection)
 *  client ◄─line── write ◄────────────────── done? ◄─┘
 *  tasks (continuations of worker answers) ─► run here
 * </pre>
 *
 * <p>The socket file gets mode 0600 right after bind; a stale file from a crashed node is removed first, and
 * a live one (another node answering) is an error.
 */
final class ApiAgent implements Agent
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    /** Largest request line (a table push with many Services); a longer one is refused and the client closed. */
    static final int MAX_REQUEST = 16 << 20;
    /** Bytes read from one client per duty cycle, so that one client cannot hold a shared worker thread. */
    static final int READ_BUDGET = 64 << 10;
    /** Requests of one client waiting for their answer: beyond this its socket is not read until it catches up. */
    static final int MAX_PENDING = 64;
    /** Connections at once; further clients are refused with an error line. */
    static final int MAX_CONNECTIONS = 64;
    /** How long a client may hold a partial request, or leave an answer unread, before it is closed. */
    static final java.time.Duration CLIENT_TIMEOUT = java.time.Duration.ofSeconds(10);
    private static final int INITIAL_BUFFER = 8192;
    private static final int TASK_DRAIN_LIMIT = 64;
    /** On the shared thread, the longest run of duty cycles without a selectNow (a missed wake-up's bound). */
    private static final long SELECT_NANOS = 10_000_000L;

    /** Longest blocking wait of {@link #await()}: the client timeouts' resolution. */
    static final long AWAIT_CAP_MILLIS = 100;

    private final Path socket;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    // warnings about clients (refused, closed): a client that reconnects in a loop cannot flood the log
    private final LogLimiter clientLog = new LogLimiter(LOG, 10, 60_000_000_000L, System.nanoTime());
    private final List<Connection> connections = new ArrayList<>();
    private Function<String, CompletableFuture<String>> handler;
    private Runnable periodic = () ->
    {
    };
    private volatile Runnable wake = () ->
    {
    };
    private volatile long clientTimeoutNanos = CLIENT_TIMEOUT.toNanos();
    private long periodNanos = Long.MAX_VALUE;
    private long lastPeriodic = System.nanoTime();
    private long lastSelect = System.nanoTime();
    private PeerCredentials credentials;
    private ServerSocketChannel server;
    private Selector selector;
    // SHARED threading: a second selector over the same channels, blocked in by the waker thread
    private Selector watch;
    private Thread waker;
    private volatile boolean watchFired;
    private volatile boolean watchClosed;

    ApiAgent(final Path socket)
    {
        this.socket = socket;
    }

    void handler(final Function<String, CompletableFuture<String>> requestHandler)
    {
        this.handler = requestHandler;
    }

    /**
     * Sets the control side's periodic upkeep (before the agent starts).
     *
     * @param period how often, at most.
     * @param task   what to run on the control thread.
     */
    void every(final java.time.Duration period, final Runnable task)
    {
        this.periodNanos = period.toNanos();
        this.periodic = task;
    }

    /**
     * Queues a task for the control thread (any thread).
     *
     * @param task the task.
     */
    void execute(final Runnable task)
    {
        tasks.offer(task);
        wake.run();
    }

    /**
     * Sets what {@link #execute} calls after queuing a task: in {@link ThreadingMode#SHARED} mode, the worker's
     * {@link Wakeup}, since this agent then runs on the worker's thread (before the agent starts).
     *
     * @param onTask the wake-up.
     */
    void wakeOnTask(final Runnable onTask)
    {
        this.wake = onTask;
    }

    /**
     * Changes {@link #CLIENT_TIMEOUT} (tests: any thread).
     *
     * @param timeout how long a client may hold a partial request or an unread answer.
     */
    void clientTimeout(final java.time.Duration timeout)
    {
        this.clientTimeoutNanos = timeout.toNanos();
    }

    /** @return whether a task waits or the socket has input (the shared thread looks before it blocks). */
    boolean pending()
    {
        return !tasks.isEmpty() || watchFired;
    }

    /**
     * In {@link ThreadingMode#SHARED} mode the worker's thread blocks in epoll, which cannot see this agent's JDK
     * selector: a small daemon thread blocks in a second selector over the same channels and calls {@code wake}
     * when a client connects or writes, then waits until this agent has taken the input (so that level-triggered
     * readiness does not spin it). Call after {@link #bind()}, before the agent starts.
     *
     * @param wake the worker's wake-up.
     * @throws IOException when the selector cannot be opened.
     */
    void wakeOnInput(final Runnable wake) throws IOException
    {
        wakeOnTask(wake);
        watch = Selector.open();
        server.register(watch, SelectionKey.OP_ACCEPT);
        final Thread t = new Thread(() -> watchLoop(wake), "ferry-api-wake");
        t.setDaemon(true);
        waker = t;
        t.start();
    }

    private void watchLoop(final Runnable wake)
    {
        try
        {
            while (!watchClosed)
            {
                final int n = watch.select();
                if (n == 0 && watch.selectedKeys().isEmpty())
                {
                    continue;
                }
                watch.selectedKeys().clear();
                watchFired = true;
                wake.run();
                while (watchFired && !watchClosed)
                {
                    LockSupport.parkNanos(this, 100_000_000L);
                }
            }
        }
        catch (final IOException | ClosedSelectorException e)
        {
            // closed with the agent
        }
    }

    /**
     * Binds the socket (before the agent starts).
     *
     * @throws IOException when the path is served by a live node or cannot be bound.
     */
    void bind() throws IOException
    {
        final Path parent = socket.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent))
        {
            Files.createDirectories(parent, PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx------")));
        }
        removeStale();
        final ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try
        {
            s.bind(UnixDomainSocketAddress.of(socket));
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            credentials = PeerCredentials.forSelf(Files.getOwner(socket));
            s.configureBlocking(false);
            selector = Selector.open();
            s.register(selector, SelectionKey.OP_ACCEPT);
        }
        catch (final IOException e)
        {
            s.close();
            throw e;
        }
        server = s;
    }

    private void removeStale() throws IOException
    {
        if (!Files.exists(socket))
        {
            return;
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX))
        {
            probe.connect(UnixDomainSocketAddress.of(socket));
            throw new IOException(socket + " is served by another running node; stop it first");
        }
        catch (final IOException e)
        {
            if (e.getMessage() != null && e.getMessage().contains("another running node"))
            {
                throw e;
            }
            // nobody answers: a crashed node left it behind
            Files.delete(socket);
            LOG.info(() -> "removed stale API socket " + socket);
        }
    }

    private int select(final long now) throws IOException
    {
        lastSelect = now;
        return selector.selectNow();
    }

    @Override
    public String roleName()
    {
        return "ferry-api";
    }

    @Override
    public int doWork() throws IOException
    {
        int work = 0;
        Runnable t;
        while (work < TASK_DRAIN_LIMIT && (t = tasks.poll()) != null)
        {
            t.run();
            work++;
        }
        final boolean fired = watchFired;
        if (fired)
        {
            // the waker saw input: take it below, then let the waker watch again
            watchFired = false;
            LockSupport.unpark(waker);
        }
        final long now = System.nanoTime();
        if (now - lastPeriodic >= periodNanos)
        {
            lastPeriodic = now;
            periodic.run();
        }
        // on the shared thread the waker watches the sockets, so selectNow (a syscall) runs only when it saw
        // input, and as a safety net every SELECT_NANOS; its own thread (no waker) selects every cycle. Keys a
        // blocking await() already selected stay in the set (selectNow counts only new ones), so look at the set.
        if (waker == null || fired || now - lastSelect >= SELECT_NANOS)
        {
            select(now);
        }
        if (!selector.selectedKeys().isEmpty())
        {
            final Iterator<SelectionKey> it = selector.selectedKeys().iterator();
            while (it.hasNext())
            {
                final SelectionKey k = it.next();
                it.remove();
                if (!k.isValid())
                {
                    continue;
                }
                if (k.isAcceptable())
                {
                    accept();
                }
                else if (k.isReadable())
                {
                    ((Connection)k.attachment()).read(now);
                }
                work++;
            }
        }
        for (int i = connections.size() - 1; i >= 0; i--)
        {
            final Connection c = connections.get(i);
            work += c.flush(now);
            c.expire(now, clientTimeoutNanos);
            if (c.done())
            {
                c.close();
                connections.remove(i);
            }
        }
        return work;
    }

    /**
     * {@link ThreadingMode#DEDICATED}: blocks the API's own thread in its selector until a client connects or
     * writes, a task is queued ({@link #execute} wakes the selector), or the upkeep is due; at most 100 ms, so that
     * client timeouts are checked at least that often. An idle node's API thread costs no wake-ups.
     *
     * @throws IOException when the selector fails.
     */
    void await() throws IOException
    {
        if (!tasks.isEmpty())
        {
            return;
        }
        final long untilPeriodic = periodNanos - (System.nanoTime() - lastPeriodic);
        final long millis = Math.min(AWAIT_CAP_MILLIS, Math.max(1, untilPeriodic / 1_000_000L));
        selector.select(millis);
    }

    /**
     * Makes {@link #execute} wake this agent's own blocking {@link #await()} (DEDICATED threading; before it
     * starts).
     */
    void wakeOwnSelector()
    {
        final Selector s = selector;
        wakeOnTask(s::wakeup);
    }

    private void accept() throws IOException
    {
        final SocketChannel ch = server.accept();
        if (ch == null)
        {
            return;
        }
        final UnixDomainPrincipal peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
        if (!credentials.allowed(peer == null ? null : peer.user()))
        {
            final String why = credentials.refusal(peer == null ? null : peer.user());
            clientLog.warn(System.nanoTime(), "API connection refused: " + why);
            try (ch)
            {
                ch.write(ByteBuffer.wrap((ApiProtocol.error(null, why) + "\n").getBytes(StandardCharsets.UTF_8)));
            }
            catch (final IOException ignored)
            {
                // the refused peer went away: nothing to tell it
            }
            return;
        }
        if (connections.size() >= MAX_CONNECTIONS)
        {
            clientLog.warn(System.nanoTime(), "API connection refused: " + MAX_CONNECTIONS
                + " clients already connected");
            try (ch)
            {
                ch.write(ByteBuffer.wrap((ApiProtocol.error(null, "too many API clients (" + MAX_CONNECTIONS
                    + ")") + "\n").getBytes(StandardCharsets.UTF_8)));
            }
            catch (final IOException ignored)
            {
                // the refused peer went away: nothing to tell it
            }
            return;
        }
        ch.configureBlocking(false);
        final Connection c = new Connection(ch);
        c.key = ch.register(selector, SelectionKey.OP_READ, c);
        if (watch != null)
        {
            c.watchKey = ch.register(watch, SelectionKey.OP_READ);
            watch.wakeup();
        }
        connections.add(c);
    }

    @Override
    public void onClose()
    {
        Runnable t;
        while ((t = tasks.poll()) != null)
        {
            t.run();
        }
        for (final Connection c : connections)
        {
            c.close();
        }
        connections.clear();
        try
        {
            if (watch != null)
            {
                watchClosed = true;
                watch.close();
                LockSupport.unpark(waker);
            }
            if (selector != null)
            {
                selector.close();
            }
            if (server != null)
            {
                server.close();
            }
            Files.deleteIfExists(socket);
        }
        catch (final IOException e)
        {
            LOG.warning(() -> "closing API socket " + socket + ": " + e.getMessage());
        }
    }

    /**
     * One client: request lines in, answers out in the same order. Bounded: a request line of at most
     * {@link #MAX_REQUEST} bytes, {@link #READ_BUDGET} bytes read per duty cycle, at most {@link #MAX_PENDING}
     * unanswered requests, and a partial request or an unread answer older than the client timeout closes it.
     */
    private final class Connection
    {
        private static final long NEVER = Long.MIN_VALUE;

        private final SocketChannel ch;
        private SelectionKey key;
        private SelectionKey watchKey;
        private ByteBuffer in = ByteBuffer.allocate(INITIAL_BUFFER);
        // bytes of `in` already searched for a newline
        private int scanned;
        private final ArrayDeque<CompletableFuture<String>> pending = new ArrayDeque<>();
        private ByteBuffer out;
        private boolean eof;
        private boolean paused;
        // when the partial request in `in` began, and when an unfinished answer last made progress
        private long partialSince = NEVER;
        private long writeSince = NEVER;

        Connection(final SocketChannel ch)
        {
            this.ch = ch;
        }

        void read(final long now)
        {
            if (eof)
            {
                return;
            }
            int budget = READ_BUDGET;
            try
            {
                while (budget > 0 && pending.size() < MAX_PENDING)
                {
                    if (!in.hasRemaining())
                    {
                        if (in.capacity() >= MAX_REQUEST)
                        {
                            fail("request longer than " + MAX_REQUEST + " bytes");
                            return;
                        }
                        final ByteBuffer bigger = ByteBuffer.allocate(Math.min(MAX_REQUEST, in.capacity() * 2));
                        in.flip();
                        bigger.put(in);
                        in = bigger;
                    }
                    final int limit = in.limit();
                    in.limit(Math.min(limit, in.position() + budget));
                    final int n;
                    try
                    {
                        n = ch.read(in);
                    }
                    finally
                    {
                        in.limit(limit);
                    }
                    if (n < 0)
                    {
                        eof = true;
                        break;
                    }
                    if (n == 0)
                    {
                        break;
                    }
                    budget -= n;
                    lines(now);
                }
            }
            catch (final IOException e)
            {
                eof = true;
            }
            if (eof)
            {
                stopReading();
            }
            else if (pending.size() >= MAX_PENDING)
            {
                pause(true);
            }
        }

        private void lines(final long now)
        {
            final int end = in.position();
            int start = 0;
            for (int i = scanned; i < end; i++)
            {
                if (in.get(i) == '\n')
                {
                    final String line = new String(in.array(), start, i - start, StandardCharsets.UTF_8).strip();
                    if (!line.isEmpty())
                    {
                        pending.add(handle(line));
                    }
                    start = i + 1;
                }
            }
            if (start > 0)
            {
                final int rest = end - start;
                if (in.capacity() > INITIAL_BUFFER && rest <= INITIAL_BUFFER)
                {
                    // a large request is done: do not keep its buffer for an idle client
                    final ByteBuffer small = ByteBuffer.allocate(INITIAL_BUFFER);
                    small.put(in.array(), start, rest);
                    in = small;
                }
                else
                {
                    in.flip();
                    in.position(start);
                    in.compact();
                }
                partialSince = rest == 0 ? NEVER : now;
            }
            else if (partialSince == NEVER && end > 0)
            {
                partialSince = now;
            }
            scanned = in.position();
        }

        private CompletableFuture<String> handle(final String line)
        {
            try
            {
                return handler.apply(line);
            }
            catch (final RuntimeException e)
            {
                return CompletableFuture.completedFuture(ApiProtocol.error(null, String.valueOf(e.getMessage())));
            }
        }

        /** Answers what is pending (requests before this one first), then closes: the client's input is not read. */
        private void fail(final String why)
        {
            clientLog.warn(System.nanoTime(), "API client closed: " + why);
            pending.add(CompletableFuture.completedFuture(ApiProtocol.error(null, why)));
            eof = true;
            in = ByteBuffer.allocate(0);
            scanned = 0;
            partialSince = NEVER;
            stopReading();
        }

        private void stopReading()
        {
            if (key != null && key.isValid())
            {
                key.interestOps(0);
            }
            if (watchKey != null)
            {
                watchKey.cancel();
                watchKey = null;
            }
        }

        private void pause(final boolean pause)
        {
            if (pause == paused || eof)
            {
                return;
            }
            paused = pause;
            if (key != null && key.isValid())
            {
                key.interestOps(pause ? 0 : SelectionKey.OP_READ);
            }
            if (watchKey != null && watchKey.isValid())
            {
                watchKey.interestOps(pause ? 0 : SelectionKey.OP_READ);
                if (!pause)
                {
                    watch.wakeup();
                }
            }
        }

        /** Closes a client that holds a partial request, or leaves an answer unread, for longer than timeout. */
        void expire(final long now, final long timeoutNanos)
        {
            if (out != null && out.hasRemaining() && writeSince != NEVER && now - writeSince > timeoutNanos)
            {
                clientLog.warn(now, "API client closed: it did not read its answer within " + timeoutNanos / 1_000_000
                    + " ms");
                abandon();
                return;
            }
            if (!eof && !paused && partialSince != NEVER && now - partialSince > timeoutNanos)
            {
                fail("request not completed within " + timeoutNanos / 1_000_000 + " ms");
            }
        }

        int flush(final long now)
        {
            int work = 0;
            try
            {
                while (true)
                {
                    if (out != null && out.hasRemaining())
                    {
                        if (ch.write(out) > 0)
                        {
                            writeSince = now;
                        }
                        if (out.hasRemaining())
                        {
                            return work;
                        }
                    }
                    final CompletableFuture<String> head = pending.peek();
                    if (head == null || !head.isDone())
                    {
                        pause(pending.size() >= MAX_PENDING);
                        return work;
                    }
                    pending.poll();
                    out = ByteBuffer.wrap((head.join() + "\n").getBytes(StandardCharsets.UTF_8));
                    writeSince = now;
                    work++;
                }
            }
            catch (final IOException e)
            {
                abandon();
                return work;
            }
        }

        /** Gives up on a client that cannot be written to: nothing more is read, answered or sent. */
        private void abandon()
        {
            eof = true;
            pending.clear();
            out = null;
            stopReading();
        }

        boolean done()
        {
            return eof && pending.isEmpty() && (out == null || !out.hasRemaining());
        }

        void close()
        {
            try
            {
                ch.close();
            }
            catch (final IOException ignored)
            {
                // closing a socket that already failed
            }
        }
    }
}
