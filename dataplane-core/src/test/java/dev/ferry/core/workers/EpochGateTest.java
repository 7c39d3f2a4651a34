package dev.ferry.core.workers;

import dev.ferry.core.tables.TablesRef;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The epoch rule: an old snapshot is freed only after every worker has passed an epoch begun after the swap. */
class EpochGateTest
{
    /** A snapshot that knows whether it was freed. */
    private static final class Table implements AutoCloseable
    {
        final long generation;
        volatile boolean closed;

        Table(final long generation)
        {
            this.generation = generation;
        }

        @Override
        public void close()
        {
            closed = true;
        }
    }

    @Test
    void shouldKeepARetiredSnapshotWhileAWorkerMayHoldIt()
    {
        final EpochGate gate = new EpochGate(2);
        final TablesRef<Table> ref = new TablesRef<>(new Table(1));
        gate.enter(0);
        gate.enter(1);
        final Table held = ref.lvCurrent();

        final Table old = ref.lvCurrent();
        ref.soCurrent(new Table(2));
        gate.retire(old);
        assertThat(gate.reclaim()).as("both workers entered before the swap").isZero();

        gate.enter(0);
        assertThat(gate.reclaim()).as("worker 1 has not passed the new epoch").isZero();
        assertThat(held.closed).isFalse();

        gate.enter(1);
        assertThat(gate.reclaim()).isEqualTo(1);
        assertThat(old.closed).isTrue();
        assertThat(gate.pending()).isZero();
    }

    @Test
    void shouldNotWaitForAQuiescentWorker()
    {
        final EpochGate gate = new EpochGate(2);
        gate.enter(0);
        gate.quiesce(1);
        final Table old = new Table(1);
        gate.retire(old);
        gate.enter(0);
        assertThat(gate.reclaim()).isEqualTo(1);
        assertThat(old.closed).isTrue();
    }

    @Test
    void shouldFreeInRetireOrder()
    {
        final EpochGate gate = new EpochGate(1);
        gate.enter(0);
        final Table a = new Table(1);
        final Table b = new Table(2);
        gate.retire(a);
        gate.enter(0);
        gate.retire(b);
        assertThat(gate.reclaim()).as("only the first retire is behind the worker").isEqualTo(1);
        assertThat(a.closed).isTrue();
        assertThat(b.closed).isFalse();
    }

    /**
     * Two workers read the current snapshot every duty cycle (and sometimes go quiescent and wake) while the
     * control thread swaps, retires and reclaims as fast as it can. A worker checks, throughout its cycle, that
     * the snapshot it read is not freed. At the end, with both workers quiescent, every retired snapshot is
     * freed.
     */
    @Test
    void shouldNeverFreeASnapshotInUseUnderSwapsFromAnotherThread() throws Exception
    {
        final int cycles = 300_000;
        final EpochGate gate = new EpochGate(2);
        final TablesRef<Table> ref = new TablesRef<>(new Table(0));
        final AtomicLong violations = new AtomicLong();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread[] workers = new Thread[2];
        for (int w = 0; w < 2; w++)
        {
            final int worker = w;
            workers[w] = new Thread(() ->
            {
                try
                {
                    long lastGeneration = -1;
                    for (int c = 0; c < cycles; c++)
                    {
                        gate.enter(worker);
                        final Table t = ref.lvCurrent();
                        if (t.generation < lastGeneration)
                        {
                            violations.incrementAndGet();
                        }
                        lastGeneration = t.generation;
                        for (int k = 0; k < 8; k++)
                        {
                            if (t.closed)
                            {
                                violations.incrementAndGet();
                            }
                            Thread.onSpinWait();
                        }
                        if ((c & 255) == worker)
                        {
                            gate.quiesce(worker);
                            Thread.yield();
                        }
                    }
                    gate.quiesce(worker);
                }
                catch (final Throwable t)
                {
                    failure.compareAndSet(null, t);
                }
            }, "ferry-epoch-" + w);
            workers[w].start();
        }
        long published = 0;
        long freed = 0;
        while (workers[0].isAlive() || workers[1].isAlive())
        {
            final Table old = ref.lvCurrent();
            ref.soCurrent(new Table(++published));
            gate.retire(old);
            freed += gate.reclaim();
        }
        for (final Thread t : workers)
        {
            t.join();
        }
        freed += gate.reclaim();
        assertThat(failure.get()).isNull();
        assertThat(violations.get()).as("a worker saw its snapshot freed, or went back a generation").isZero();
        assertThat(published).as("the control thread swapped while workers ran").isGreaterThan(1000);
        assertThat(freed).as("every retired snapshot is freed once workers are quiescent").isEqualTo(published);
        assertThat(gate.pending()).isZero();
    }
}
