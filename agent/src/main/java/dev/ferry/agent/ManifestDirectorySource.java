package dev.ferry.agent;

import dev.ferry.core.Clock;
import io.fabric8.kubernetes.api.model.HasMetadata;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A directory of Kubernetes manifests as a cluster: the same loader as {@code ferry replay --cluster}
 * ({@link ManifestLoader}), watched with a {@link WatchService} and debounced.
 *
 * <pre>
 *   DIR/*.yaml ─► WatchService ─► quiet for the debounce time? ─► ManifestLoader.load(DIR)
 *                                                                  ├─ good: diff by object → changed(key, t)
 *                                                                  └─ bad:  one log line, keep last good state
 * </pre>
 *
 * <p>An editor that writes a file in several steps, or {@code kubectl}-style tooling that rewrites several files,
 * produces one reload once the directory has been quiet for the debounce time. The change time of every object
 * is the time of the first file event of the burst. Hand-written Endpoints are read here (in a live cluster
 * the EndpointSlice mirroring controller turns them into slices).
 */
public final class ManifestDirectorySource implements ClusterSource
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    private final Path dir;
    private final Duration debounce;
    private final Clock clock;
    private volatile ClusterState state = ClusterState.empty();
    private volatile boolean synced;
    private volatile String lastError;
    private volatile long reloads;
    private WatchService watcher;
    private Thread thread;
    private ChangeListener listener;

    /**
     * @param dir      the directory.
     * @param debounce how long the directory must be quiet before a reload.
     * @param clock    time for change stamps.
     */
    public ManifestDirectorySource(final Path dir, final Duration debounce, final Clock clock)
    {
        this.dir = dir;
        this.debounce = debounce;
        this.clock = clock;
    }

    @Override
    public synchronized void start(final ChangeListener changeListener) throws IOException
    {
        if (!Files.isDirectory(dir))
        {
            throw new IOException("manifest directory " + dir + " does not exist or is not a directory");
        }
        this.listener = changeListener;
        watcher = dir.getFileSystem().newWatchService();
        dir.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
            StandardWatchEventKinds.ENTRY_DELETE);
        reload(clock.nanos());
        thread = new Thread(this::watch, "ferry-manifests");
        thread.setDaemon(true);
        thread.start();
    }

    private void watch()
    {
        try
        {
            while (true)
            {
                final WatchKey first = watcher.take();
                final long changedAt = clock.nanos();
                boolean relevant = relevant(first);
                first.reset();
                // debounce: wait until the directory has been quiet for the whole debounce time
                WatchKey more;
                while ((more = watcher.poll(debounce.toNanos(), TimeUnit.NANOSECONDS)) != null)
                {
                    relevant |= relevant(more);
                    more.reset();
                }
                if (relevant)
                {
                    reload(changedAt);
                }
            }
        }
        catch (final InterruptedException | ClosedWatchServiceException e)
        {
            // closed
        }
    }

    private static boolean relevant(final WatchKey key)
    {
        boolean any = false;
        for (final var e : key.pollEvents())
        {
            if (e.kind() == StandardWatchEventKinds.OVERFLOW)
            {
                any = true;
            }
            else if (e.context() instanceof Path p)
            {
                final String n = p.getFileName().toString();
                any |= !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml") || n.endsWith(".json"));
            }
        }
        return any;
    }

    private void reload(final long changedAt)
    {
        final ClusterState next;
        try
        {
            // an object the compiler cannot use is not a reason to keep the old state: the sync leaves it out
            // (and logs and counts it); only a file that does not parse keeps the last good state
            next = ManifestLoader.load(dir, note -> LOG.fine(note), skipped ->
            {
            });
        }
        catch (final ManifestException | IOException e)
        {
            final String message = "manifests in " + dir + " not applied, keeping the last good state: "
                + e.getMessage();
            if (!message.equals(lastError))
            {
                LOG.warning(message);
            }
            lastError = message;
            return;
        }
        lastError = null;
        final ClusterState previous = state;
        state = next;
        reloads++;
        final boolean first = !synced;
        synced = true;
        for (final String key : diff(previous, next))
        {
            listener.changed(key, changedAt);
        }
        if (first)
        {
            listener.changed(SYNCED_KEY, changedAt);
        }
    }

    /**
     * @param a one state.
     * @param b another.
     * @return the keys of objects added, removed or changed between them.
     */
    static Set<String> diff(final ClusterState a, final ClusterState b)
    {
        final Map<String, HasMetadata> before = index(a);
        final Map<String, HasMetadata> after = index(b);
        final Set<String> changed = new HashSet<>();
        for (final Map.Entry<String, HasMetadata> e : after.entrySet())
        {
            if (!e.getValue().equals(before.get(e.getKey())))
            {
                changed.add(e.getKey());
            }
        }
        for (final String k : before.keySet())
        {
            if (!after.containsKey(k))
            {
                changed.add(k);
            }
        }
        return changed;
    }

    private static Map<String, HasMetadata> index(final ClusterState s)
    {
        final Map<String, HasMetadata> m = new HashMap<>();
        Stream.of(s.nodes(), s.pods(), s.services(), s.endpointSlices(), s.endpoints(), s.configMaps(),
            s.serviceCidrs()).flatMap(List::stream).forEach(o -> m.put(ClusterState.key(o), o));
        return m;
    }

    @Override
    public boolean synced()
    {
        return synced;
    }

    @Override
    public ClusterState snapshot()
    {
        return state;
    }

    @Override
    public String error()
    {
        return lastError;
    }

    /** @return how many loads succeeded. */
    public long reloads()
    {
        return reloads;
    }

    @Override
    public String describe()
    {
        return "manifests " + dir;
    }

    @Override
    public synchronized void close()
    {
        if (watcher != null)
        {
            try
            {
                watcher.close();
            }
            catch (final IOException ignored)
            {
                // closing anyway
            }
        }
        if (thread != null)
        {
            thread.interrupt();
            try
            {
                thread.join(2_000);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }
    }
}
