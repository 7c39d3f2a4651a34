package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.workers.FlowOwner;
import dev.ferry.core.workers.OwnerProgram;
import dev.ferry.nat.Nat;
import dev.ferry.tapio.FanoutSteering;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Keeps the uplink's fanout program ({@link OwnerProgram}) in step with the tables: the program needs the VXLAN
 * port, the SNAT addresses (the node's primary address and the pods' gateway) and the masquerade range, which come
 * with the tables, and the ownership secret and worker count, which do not change while the node runs. It is made
 * again (on the publishing thread, a few hundred instructions) only when one of those changes, and handed to
 * {@link FanoutSteering}, which appends the slot table (worker to the slot of its socket in the kernel's member
 * array, {@link OwnerProgram#withSlots}) and attaches it at once. The program answers workers; the slot table is
 * the group's business, made again whenever a socket joins or leaves. Until the first tables the group runs the
 * kernel's flow hash ({@link OwnerProgram#flowHash()}), mapped through the table too.
 *
 * <p>The program knows no Services: a frame of a Service flow may reach a worker that is not its owner and is
 * handed over, as every frame was before the program existed.
 */
final class UplinkSteering implements Consumer<Snapshot>
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    private final FanoutSteering steering;
    private final int workers;
    private final long secret;
    private int[] inputs;

    /**
     * @param steering the uplink group's program holder.
     * @param workers  the node's workers.
     * @param secret   the ownership secret the workers' rule uses.
     */
    UplinkSteering(final FanoutSteering steering, final int workers, final long secret)
    {
        this.steering = steering;
        this.workers = workers;
        this.secret = secret;
    }

    @Override
    public void accept(final Snapshot s)
    {
        final NodeTables t = s.tables();
        final NodeTables.ClusterSettings c = t.cluster();
        final int[] snat = t.node().gatewayIp() == 0 ? new int[] {t.node().primaryAddress()}
            : new int[] {t.node().primaryAddress(), t.node().gatewayIp()};
        final int min = Nat.masqueradePortMin(c);
        final int max = Nat.masqueradePortMax(c);
        final int[] next = Arrays.copyOf(snat, snat.length + 3);
        next[snat.length] = min;
        next[snat.length + 1] = max;
        next[snat.length + 2] = c.vxlanPort();
        if (Arrays.equals(next, inputs))
        {
            return;
        }
        inputs = next;
        long[] program;
        try
        {
            program = OwnerProgram.generate(new FlowOwner(workers, snat, min, max, FlowOwner.NO_SERVICES, secret),
                c.vxlanPort());
        }
        catch (final IllegalArgumentException e)
        {
            // a masquerade range smaller than the worker count: worker-handoff pins every flow to worker 0, and the
            // kernel's hash spreads the frames as well as anything
            program = OwnerProgram.flowHash();
        }
        steering.program(program);
        final int length = program.length;
        LOG.info(() -> "uplink fanout program: " + length + " instructions for " + workers + " workers, VXLAN port "
            + c.vxlanPort() + ", masquerade ports " + min + "-" + max + " (" + steering.mode() + " mode)");
    }
}
