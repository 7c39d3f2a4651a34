package dev.ferry.bench;

import dev.ferry.core.workers.Handoff;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The scaling benchmark's fixture: two workers forward everything, half of it through the rings. */
class WorkerMeshTest
{
    @Test
    void shouldForwardEveryPacketWithHalfHandedOver()
    {
        try (WorkerMesh mesh = new WorkerMesh(2, 64, 2000))
        {
            for (int cycle = 0; cycle < 20; cycle++)
            {
                mesh.lane(0).forward(() -> false);
                mesh.lane(1).forward(() -> false);
            }
            mesh.drainAll();
            final String line = mesh.verify();
            final long sent = mesh.sum(Handoff.COUNTER_SENT);
            assertThat(sent).as(line).isBetween(40L * 256 * 4 / 10, 40L * 256 * 6 / 10);
            assertThat(mesh.sum(Handoff.DROP_PREFIX + "handoff-full")).isZero();
            assertThat(line).as("the SYNs of the warm-up, then the measured packets").contains("forwarded " + (2000 + 40 * 256));
        }
    }

    /** {@code handedOverPercent}: 0 keeps every packet on its owner, 100 hands every one over; all are forwarded. */
    @Test
    void shouldHandOverTheChosenShare()
    {
        for (final int percent : new int[] {0, 100})
        {
            try (WorkerMesh mesh = new WorkerMesh(2, 64, 2000, percent, WorkerMesh.RING_BYTES))
            {
                for (int cycle = 0; cycle < 10; cycle++)
                {
                    mesh.lane(0).forward(() -> false);
                    mesh.lane(1).forward(() -> false);
                }
                mesh.drainAll();
                final String line = mesh.verify();
                assertThat(mesh.sum(Handoff.COUNTER_SENT)).as(line).isEqualTo(percent == 0 ? 0L : 20L * 256);
                assertThat(line).contains("forwarded " + (2000 + 20 * 256));
            }
        }
    }

    @Test
    void shouldForwardWithoutHandoffOnOneWorker()
    {
        try (WorkerMesh mesh = new WorkerMesh(1, 64, 1000))
        {
            for (int cycle = 0; cycle < 8; cycle++)
            {
                mesh.lane(0).forward(() -> false);
            }
            mesh.drainAll();
            assertThat(mesh.verify()).contains("forwarded " + (1000 + 8 * 256)).contains("handed over 0");
        }
    }

    /**
     * A worker whose owner does not drain waits for room in the full ring, and the report says how often: the
     * figure that shows two workers coupled when the host slows one of them.
     */
    @Test
    void shouldReportTheWaitsForAFullRing()
    {
        // 1 KiB rings hold a dozen 64-byte frames; worker 1 never runs, so worker 0's ring to it fills at once
        try (WorkerMesh mesh = new WorkerMesh(2, 64, 2000, 50, 1024))
        {
            mesh.lane(0).markRuntime();
            final int[] asked = {0};
            // the stop flag turns true after a few waits: from then on a full ring drops, as at the end of a trial
            mesh.lane(0).forward(() -> ++asked[0] > 3);
            final long dropped = mesh.sum(Handoff.DROP_PREFIX + "handoff-full");
            assertThat(dropped).as("the frames that found the ring full after the stop").isPositive();
            assertThat(mesh.lanesReport().lines().filter(l -> l.contains("waited for room")).findFirst().orElse(""))
                .as("each frame that found the ring full waited once, then was dropped at the stop")
                .contains("waited for room in a full ring: " + dropped + " times");
        }
    }
}
