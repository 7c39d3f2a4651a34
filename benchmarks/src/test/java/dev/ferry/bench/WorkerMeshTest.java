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

    /**
     * {@code handedOverPercent}: 0 keeps every packet on its owner, 100 hands every one over; all are forwarded, with
     * handles over a shared pool and with copies, and no buffer is lost on its way home ({@code verify}).
     */
    @Test
    void shouldHandOverTheChosenShare()
    {
        for (final int percent : new int[] {0, 100})
        {
            for (final boolean shared : new boolean[] {true, false})
            try (WorkerMesh mesh = new WorkerMesh(2, 64, 2000, percent, WorkerMesh.RING_BYTES, shared))
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
}
