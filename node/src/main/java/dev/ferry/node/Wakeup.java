package dev.ferry.node;

import dev.ferry.tapio.Epoll;

import java.lang.invoke.VarHandle;

/**
 * How other threads wake the worker when it is blocked in epoll: a control command queued, a frame queued by the
 * VXLAN socket's netty thread, a task for the API agent that shares the worker's thread. {@link #run()} costs a
 * fence and a volatile read while the worker runs, and one eventfd {@code write} when it is blocked.
 *
 * <pre>
 *   producer: queue(item); run() → fence; parked? → epoll.wake()
 *   worker:   park() → parked = true; fence; anything queued? → unpark(), do not block : epoll.await(…); unpark()
 * </pre>
 *
 * <p>The fences on both sides (Dekker) make sure that either the worker sees the item before it blocks, or the
 * producer sees it parked and wakes it.
 */
final class Wakeup implements Runnable
{
    private volatile Epoll epoll;
    private volatile boolean parked;

    /**
     * Sets the epoll instance the worker blocks in (worker start).
     *
     * @param e the worker's epoll.
     */
    void epoll(final Epoll e)
    {
        this.epoll = e;
    }

    /** Any thread, after queuing something for the worker: wakes it if it is blocked. */
    @Override
    public void run()
    {
        VarHandle.fullFence();
        if (parked)
        {
            final Epoll e = epoll;
            if (e != null)
            {
                e.wake();
            }
        }
    }

    /** Worker thread: announces that it is about to block; check the queues again afterwards. */
    void park()
    {
        parked = true;
        VarHandle.fullFence();
    }

    /** Worker thread: it is running again. */
    void unpark()
    {
        parked = false;
    }
}
