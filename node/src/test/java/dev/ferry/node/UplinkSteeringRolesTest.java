package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.workers.Handoff;
import dev.ferry.core.workers.OwnerProgram;
import dev.ferry.nat.AffinityTable;
import dev.ferry.tapio.FanoutSteering;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link UplinkSteering} makes the uplink's program again when the Service roles change and only then, compiles
 * them in up to {@link OwnerProgram#MAX_ROLES}, and says once (INFO) when a node goes over the cap; what it says
 * is the node's log, read here from the {@code dev.ferry.node} logger.
 */
class UplinkSteeringRolesTest
{
    private static final int VIP_A = Ip4.parse("10.96.0.10");
    private static final int VIP_B = Ip4.parse("10.96.0.20");

    private final Ports ports = new Ports();
    private final TablesPublisher publisher = new TablesPublisher(ports, false);
    private final ManualClock clock = new ManualClock(1_000_000_000_000L);
    private final Handoff handoff = new Handoff(2, 1 << 16);
    private final PacketPool pool = new PacketPool(256);
    private final NodeGraph graph;
    private final List<String> lines = new ArrayList<>();
    private final Logger log = Logger.getLogger("dev.ferry.node");
    private final Level levelBefore = log.getLevel();
    private final Handler handler = new Handler()
    {
        @Override
        public void publish(final LogRecord r)
        {
            if (r.getMessage().startsWith("uplink fanout program:"))
            {
                lines.add(r.getLevel() + " " + r.getMessage());
            }
        }

        @Override
        public void flush()
        {
        }

        @Override
        public void close()
        {
        }
    };
    private long generation;

    UplinkSteeringRolesTest()
    {
        ports.add(WorkerHandoffTest.tap(POD_A), Ports.Kind.POD, NodeFixture.GATEWAY_MAC);
        ports.add(WorkerHandoffTest.tap(POD_B), Ports.Kind.POD, NodeFixture.GATEWAY_MAC);
        NodeGraph.registerUplink(ports, "eth9", MemoryPortFactory.UPLINK_MAC);
        final int host = NodeGraph.registerHost(ports, "ferry0", MemoryPortFactory.HOST_MAC,
            MemoryPortFactory.HOST_PEER_MAC);
        graph = NodeGraph.builder(NodeConfig.defaults("node-a", Path.of("x.sock"), "eth9").withSeed(7), pool,
            Counters.inMemory(4096), clock, ports, publisher, publisher.ref()).sink(pool::free).hostPort(host)
            .worker(0, handoff, 0x5eedL, AffinityTable.inMemory(1024, "in memory")).conntrackHashSeed(1).build();
        publisher.onPublish(new UplinkSteering(new FanoutSteering(OwnerProgram.flowHash()), 2, 0x5eedL,
            graph.feature(ServicesFeature.class)::nat));
        log.addHandler(handler);
        log.setLevel(Level.FINE);
    }

    @AfterEach
    void close()
    {
        log.removeHandler(handler);
        log.setLevel(levelBefore);
        graph.close();
        pool.close();
        handoff.close();
    }

    @Test
    void shouldMakeTheProgramAgainWhenTheRolesChangeAndSayWhenTheyPassTheCap()
    {
        // a ClusterIP with its port, its marker (protocol and port 0) and one backend
        publish(List.of(WorkerHandoffTest.service("a", VIP_A, POD_B, true)));
        assertThat(lines).singleElement().asString().startsWith("INFO ").contains(", 3 Service roles");
        publish(List.of(WorkerHandoffTest.service("a", VIP_A, POD_B, true)));
        assertThat(lines).as("the same roles: the same program").hasSize(1);

        publish(List.of(WorkerHandoffTest.service("a", VIP_A, POD_B, true),
            WorkerHandoffTest.service("b", VIP_B, POD_A, true)));
        assertThat(lines).hasSize(2);
        assertThat(lines.get(1)).as("a change of the roles alone is said at FINE").startsWith("FINE ")
            .contains(", 6 Service roles");

        publish(List.of(big(OwnerProgram.MAX_ROLES)));
        assertThat(lines).hasSize(4);
        assertThat(lines.get(2)).startsWith("INFO ").contains("Service flows are left to worker-handoff, the node has "
            + (OwnerProgram.MAX_ROLES + 2) + " Service roles (frontends and backends) over the cap of "
            + OwnerProgram.MAX_ROLES);
        assertThat(lines.get(3)).startsWith("INFO ").contains(", 0 Service roles");
        final String over = lines.get(3);
        publish(List.of(big(OwnerProgram.MAX_ROLES + 5)));
        assertThat(lines).as("over the cap before and now: nothing to make again").hasSize(4);

        publish(List.of(WorkerHandoffTest.service("a", VIP_A, POD_B, true)));
        assertThat(lines).hasSize(5);
        assertThat(lines.get(4)).startsWith("INFO ").contains(", 3 Service roles");
        assertThat(instructions(lines.get(4))).as("the roles make the program longer")
            .isGreaterThan(instructions(over));
    }

    private void publish(final List<ServiceInfo> services)
    {
        final NodeTables base = NodeFixture.tables(++generation, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
        final NodeTables tables = new NodeTables(generation, base.node(), base.cluster(), base.pods(),
            base.remoteNodes(), services, Map.of());
        graph.beforePublish(tables);
        publisher.publish(tables);
    }

    /** One ClusterIP Service with {@code endpoints} backends: that many roles and two (the ClusterIP, its marker). */
    private static ServiceInfo big(final int endpoints)
    {
        final List<ServiceInfo.Endpoint> eps = new ArrayList<>();
        for (int i = 0; i < endpoints; i++)
        {
            eps.add(new ServiceInfo.Endpoint(Ip4.parse("10.244.3.0") + 1 + i, 8080, true, true, false, "node-b", "",
                false));
        }
        return new ServiceInfo("default", "big", "ClusterIP", null, List.of(VIP_A), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of(new ServiceInfo.ServicePort("", 6, 80, 0,
            eps)));
    }

    private static int instructions(final String line)
    {
        final String from = line.substring(line.indexOf("program: ") + "program: ".length());
        return Integer.parseInt(from.substring(0, from.indexOf(' ')));
    }
}
