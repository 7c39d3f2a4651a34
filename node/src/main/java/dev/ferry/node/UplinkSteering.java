package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.workers.FlowOwner;
import dev.ferry.core.workers.OwnerProgram;
import dev.ferry.nat.Nat;
import dev.ferry.tapio.FanoutSteering;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Keeps the uplink's fanout program ({@link OwnerProgram}) in step with the tables: the program needs the VXLAN
 * port, the SNAT addresses (the node's primary address and the pods' gateway), the masquerade range and the Service
 * roles (every frontend and backend of the snapshot's compiled Service table, {@link Nat#frontendEndpoints},
 * {@link Nat#backendEndpoints}), which come with the tables, and the ownership secret and worker count, which do not
 * change while the node runs. It is made again (on the publishing thread, a few hundred to a few thousand
 * instructions) only when one of those changes, and handed to {@link FanoutSteering}, which appends the slot table
 * (worker to the slot of its socket in the kernel's member array, {@link OwnerProgram#withSlots}) and attaches it at
 * once. The program answers workers; the slot table is the group's business, made again whenever a socket joins or
 * leaves. Until the first tables the group runs the kernel's flow hash ({@link OwnerProgram#flowHash()}), mapped
 * through the table too.
 *
 * <p>The program judges every rule of {@link FlowOwner}, Service flows too (a NodePort client from outside, VXLAN
 * from a peer carrying a remote client's packets to a local backend, a remote backend's replies), as long as the
 * node has at most {@link OwnerProgram#MAX_ROLES} roles. With more it knows no Services (one INFO line says so): a
 * frame of a Service flow may reach a worker that is not its owner and is handed over, as every frame was before
 * the program existed.
 */
final class UplinkSteering implements Consumer<Snapshot>
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    private final FanoutSteering steering;
    private final int workers;
    private final long secret;
    private final Supplier<Nat> nat;
    private int[] inputs;
    private long[] frontends;
    private long[] backends;
    /** Whether the program attached last carries the roles (at most the cap). */
    private boolean carried;

    /**
     * @param steering the uplink group's program holder.
     * @param workers  the node's workers.
     * @param secret   the ownership secret the workers' rule uses.
     * @param nat      the NAT whose compiled Service table the workers' rule reads (any worker's: they compile the
     *                 same tables); null before the first tables, or always on a node without Services.
     */
    UplinkSteering(final FanoutSteering steering, final int workers, final long secret, final Supplier<Nat> nat)
    {
        this.steering = steering;
        this.workers = workers;
        this.secret = secret;
        this.nat = nat;
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
        final Nat n = nat.get();
        // sorted, so that a table that lists the same roles in another order does not make the program again
        final long[] fe = n == null ? new long[0] : n.frontendEndpoints(s);
        final long[] be = n == null ? new long[0] : n.backendEndpoints(s);
        Arrays.sort(fe);
        Arrays.sort(be);
        final boolean settings = !Arrays.equals(next, inputs);
        if (!settings && Arrays.equals(fe, frontends) && Arrays.equals(be, backends))
        {
            return;
        }
        final int roles = OwnerProgram.roleCount(fe, be);
        final boolean services = roles <= OwnerProgram.MAX_ROLES;
        final boolean flipped = inputs == null || services != carried;
        inputs = next;
        frontends = fe;
        backends = be;
        carried = services;
        if (!services && !flipped && !settings)
        {
            // over the cap before and now: the program without Services stays as it is
            return;
        }
        if (!services)
        {
            LOG.info(() -> "uplink fanout program: Service flows are left to worker-handoff, the node has " + roles
                + " Service roles (frontends and backends) over the cap of " + OwnerProgram.MAX_ROLES);
        }
        long[] program;
        try
        {
            program = OwnerProgram.generate(new FlowOwner(workers, snat, min, max, FlowOwner.NO_SERVICES, secret),
                c.vxlanPort(), fe, be);
        }
        catch (final IllegalArgumentException e)
        {
            // a masquerade range smaller than the worker count: worker-handoff pins every flow to worker 0, and the
            // kernel's hash spreads the frames as well as anything
            program = OwnerProgram.flowHash();
        }
        steering.program(program);
        final int length = program.length;
        // Service churn alone remakes the program often: said at FINE, the settings and the cap at INFO
        LOG.log(settings || flipped ? Level.INFO : Level.FINE, () -> "uplink fanout program: " + length
            + " instructions for " + workers + " workers, VXLAN port " + c.vxlanPort() + ", masquerade ports " + min
            + "-" + max + ", " + (services ? roles : 0) + " Service roles (" + steering.mode() + " mode)");
    }
}
