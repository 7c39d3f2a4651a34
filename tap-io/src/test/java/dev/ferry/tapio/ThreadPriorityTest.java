package dev.ferry.tapio;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

class ThreadPriorityTest
{
    @Test
    void shouldSetAndReadBackTheThreadsSchedulerSliceWithoutTouchingOtherThreads() throws Exception
    {
        final long before = ThreadPriority.slice();
        final AtomicReference<long[]> seen = new AtomicReference<>();
        final AtomicReference<Throwable> failed = new AtomicReference<>();
        final Thread t = Thread.ofPlatform().start(() ->
        {
            try
            {
                ThreadPriority.slice(200_000L);
                final long set = ThreadPriority.slice();
                ThreadPriority.slice(0L);
                seen.set(new long[] {set, ThreadPriority.slice()});
            }
            catch (final Throwable e)
            {
                failed.set(e);
            }
        });
        t.join();
        if (failed.get() != null)
        {
            // a kernel without EEVDF custom slices must say so clearly, not pretend
            assertThat(failed.get()).isInstanceOf(NativeException.class)
                .hasMessageContaining("slice request ignored by this kernel");
            assertThat(kernelAtLeast(6, 12)).as("a 6.12+ kernel takes the slice").isFalse();
            return;
        }
        assertThat(seen.get()[0]).as("the slice the thread asked for").isEqualTo(200_000L);
        assertThat(seen.get()[1]).as("0 gives the default back").isEqualTo(before);
        assertThat(ThreadPriority.slice()).as("the test's own thread is untouched").isEqualTo(before);
    }

    private static boolean kernelAtLeast(final int major, final int minor)
    {
        final String[] v = System.getProperty("os.version").split("[.-]");
        final int ma = Integer.parseInt(v[0]);
        return ma > major || ma == major && Integer.parseInt(v[1]) >= minor;
    }
}
