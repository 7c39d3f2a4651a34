package dev.ferry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15: the lab with no flannel annotation pre-written ({@code ferry lab up --api-server}) comes up because
 * the agents publish them. The Nodes start in the stand-in API server without them, each node's agent runs in
 * API mode in its namespace, and then every check of {@code ferry lab verify} passes with real traffic.
 */
@Tag("netns")
final class LabApiServerTest
{
    private static final String FLANNEL = "flannel.alpha.coreos.com/";
    private static Lab lab;

    @BeforeAll
    static void up() throws IOException
    {
        if (LabFixture.missing() != null)
        {
            return;
        }
        lab = LabFixture.lab(Lab.Node2.FERRY).apiServer(true);
        try
        {
            lab.up();
        }
        catch (final RuntimeException | IOException e)
        {
            down();
            throw e;
        }
    }

    @BeforeEach
    void needsTheLab()
    {
        LabFixture.assumeRootAndTools();
    }

    @AfterAll
    static void down() throws IOException
    {
        if (lab != null)
        {
            for (final String name : List.of("api-server", "node1-agent", "node2-agent"))
            {
                final Path log = lab.state().file("logs/" + name + ".log");
                if (Files.exists(log))
                {
                    System.out.println("---- " + log);
                    System.out.println(Files.readString(log));
                }
            }
        }
        LabFixture.down(lab);
        lab = null;
    }

    @Test
    void shouldPublishTheFourFlannelAnnotationsFromTheAgentsAndPassVerify() throws IOException
    {
        // nothing wrote them before the agents: not the nodes' manifest directory, so not the API server either
        assertThat(Files.readString(lab.state().file("cluster/nodes.yaml"))).doesNotContain(FLANNEL);
        for (final LabSpec.Node n : lab.spec().nodes())
        {
            final Shell.Result r = Shell.inNetns(10_000, lab.spec().extNs(), "curl", "-sk", "--max-time", "5",
                "https://" + LabSpec.EXT_ROUTER_IP + ":6443/api/v1/nodes/" + n.name());
            assertThat(r.ok()).as(r.err()).isTrue();
            final JsonNode a = new ObjectMapper().readTree(r.out()).path("metadata").path("annotations");
            final String ip = n.ip();
            final String[] octets = ip.split("\\.");
            final String vtep = String.format("0e:58:%02x:%02x:%02x:%02x", Integer.parseInt(octets[0]),
                Integer.parseInt(octets[1]), Integer.parseInt(octets[2]), Integer.parseInt(octets[3]));
            final JsonNode backend = new ObjectMapper().readTree(a.path(FLANNEL + "backend-data").asText("{}"));
            assertThat(backend.path("VNI").asInt()).as(n.name() + " backend-data " + backend).isEqualTo(LabSpec.VNI);
            assertThat(backend.path("VtepMAC").asText()).as(n.name()).isEqualTo(vtep);
            assertThat(a.path(FLANNEL + "backend-type").asText()).as(n.name()).isEqualTo("vxlan");
            assertThat(a.path(FLANNEL + "kube-subnet-manager").asText()).as(n.name()).isEqualTo("true");
            assertThat(a.path(FLANNEL + "public-ip").asText()).as(n.name()).isEqualTo(ip);
        }
        assertThat(new LabChecks(lab).runAll(false, System.out)).as("ferry lab verify's checks").isEmpty();
    }
}
