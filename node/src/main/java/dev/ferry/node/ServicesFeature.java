package dev.ferry.node;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Stage;
import dev.ferry.nat.Nat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Kubernetes Services (module {@code nat} over {@code conntrack-table}) wired into a node: {@code nat44-in} and
 * {@code nat44-new} between ip4-input (after vxlan-bypass) and ip4-lookup, the Service table as a snapshot part,
 * {@code ferry show services} and {@code ferry show conntrack}, and the conntrack sweep in the worker's duty
 * cycle. The conntrack table takes the default capacity and timeouts (the cluster's settings are not known when
 * the node starts).
 *
 * <p>Registered through {@link java.util.ServiceLoader}; {@code ferry node} finds it on the class path.
 */
public final class ServicesFeature implements NodeFeature
{
    private ConntrackTable conntrack;
    private Nat nat;

    @Override
    public String name()
    {
        return "services";
    }

    @Override
    public int order()
    {
        return 50;
    }

    @Override
    public List<Stage> beforeLookup(final Context c, final String next)
    {
        // nat44-in and nat44-new lead to ip4-lookup by name: Services are the last feature before the lookup
        conntrack = new ConntrackTable(ConntrackConfig.fromSettings(Map.of()), c.clock());
        nat = Nat.create(c.pool(), c.publisher(), c.clock(), c.counters(), Nat.Options.defaults(c.seed()), conntrack);
        return nat.stages();
    }

    @Override
    public void housekeeping()
    {
        if (conntrack != null)
        {
            conntrack.expire();
        }
    }

    @Override
    public List<String> show(final String what)
    {
        if (nat == null)
        {
            return null;
        }
        if ("services".equals(what))
        {
            return Arrays.asList(nat.showServices().split("\n"));
        }
        if ("conntrack".equals(what))
        {
            final StringBuilder sb = new StringBuilder();
            try
            {
                nat.dumpConntrack(sb);
            }
            catch (final IOException e)
            {
                throw new UncheckedIOException(e);
            }
            return sb.isEmpty() ? List.of("No connections tracked") : Arrays.asList(sb.toString().split("\n"));
        }
        return null;
    }

    @Override
    public void close()
    {
        if (conntrack != null)
        {
            conntrack.close();
        }
    }
}
