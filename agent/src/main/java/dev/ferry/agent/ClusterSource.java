package dev.ferry.agent;

import java.io.IOException;

/**
 * Where the agent reads Kubernetes objects from: a directory of manifests ({@link ManifestDirectorySource}) or
 * a live API server ({@link InformerSource}). A source keeps the current objects itself and tells a
 * {@link ChangeListener} which object changed; the agent then takes a {@link #snapshot()} and compiles it.
 */
public interface ClusterSource extends AutoCloseable
{
    /** Key recorded when a source has finished its initial list (or reload) and is ready to be compiled. */
    String SYNCED_KEY = "(initial list)";

    /** Receives changes, on the source's own threads. Implementations must not block. */
    @FunctionalInterface
    interface ChangeListener
    {
        /**
         * @param key       the object that changed ("Kind namespace/name"), or {@link #SYNCED_KEY}.
         * @param changedAt when it changed, in epoch nanoseconds (the best estimate the source has).
         */
        void changed(String key, long changedAt);
    }

    /**
     * Starts watching. Returns without waiting for the first list; {@link #synced()} tells when it is done, and
     * the listener hears {@link #SYNCED_KEY} then.
     *
     * @param listener receives changes.
     * @throws IOException when the source cannot be opened at all (a missing directory, a bad kubeconfig).
     */
    void start(ChangeListener listener) throws IOException;

    /** @return whether the source has a complete view (initial list done, last reload good). */
    boolean synced();

    /** @return why the source's last update was not applied (the last good state is kept), or null. */
    default String error()
    {
        return null;
    }

    /** @return the current objects. */
    ClusterState snapshot();

    /** @return a short description for logs ("manifests /etc/ferry/cluster", "api https://10.96.0.1:443"). */
    String describe();

    /** Stops watching and releases threads and connections. */
    @Override
    void close();
}
