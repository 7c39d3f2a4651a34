package dev.ferry.lab;

import dev.ferry.agent.ClusterState;
import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeAnnotationPublisher;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Pattern;

/**
 * {@code ferry lab api-server} (hidden; {@code ferry lab up --api-server} starts it in the external host's
 * namespace): a stand-in for kube-apiserver, which Debian does not package. It is fabric8's mock API server in
 * CRUD mode, loaded with the lab's manifests <em>without</em> flannel's Node annotations, so that the agents must
 * publish them. Two rules of the real API server that the mock lacks are added ({@link LabDispatcher}).
 */
@Command(name = "api-server", hidden = true, mixinStandardHelpOptions = true,
    description = "The lab's stand-in API server (HTTPS with a self-signed certificate, CRUD, in memory) loaded "
        + "from a manifest directory.")
public final class LabApiServer implements Callable<Integer>
{
    /** The annotations the agents publish, left out of the Nodes the server starts with. */
    public static final String FLANNEL_PREFIX = NodeAnnotationPublisher.PREFIX;
    /** The port it listens on (kube-apiserver's). */
    public static final int PORT = 6443;

    @Option(names = "--listen", paramLabel = "IP", required = true, description = "address to listen on")
    String listen;

    @Option(names = "--port", paramLabel = "N", defaultValue = "" + PORT,
        description = "port (default ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--manifests", paramLabel = "DIR", required = true, description = "the objects to serve")
    Path manifests;

    /** Public for picocli. */
    public LabApiServer()
    {
    }

    @Override
    public Integer call() throws Exception
    {
        final KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(),
            new HashMap<>(), new LabDispatcher(), true);
        server.init(InetAddress.getByName(listen), port);
        final int loaded;
        try (KubernetesClient client = server.createClient())
        {
            loaded = load(client, ManifestLoader.load(manifests, note -> { }));
        }
        System.out.println("lab api-server: " + loaded + " objects (Nodes without " + FLANNEL_PREFIX
            + "*) at https://" + listen + ":" + port);
        System.out.flush();
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            server.destroy();
            stopped.countDown();
        }, "lab-api-server-stop"));
        stopped.await();
        return 0;
    }

    /**
     * Creates a cluster's objects, its Nodes without flannel's annotations.
     *
     * @param client a client of the server.
     * @param cluster the objects.
     * @return how many were created.
     */
    static int load(final KubernetesClient client, final ClusterState cluster)
    {
        final List<HasMetadata> objects = new ArrayList<>();
        for (final Node n : cluster.nodes())
        {
            objects.add(withoutFlannelAnnotations(n));
        }
        objects.addAll(cluster.pods());
        objects.addAll(cluster.services());
        objects.addAll(cluster.endpointSlices());
        objects.addAll(cluster.endpoints());
        objects.addAll(cluster.configMaps());
        objects.addAll(cluster.serviceCidrs());
        for (final HasMetadata o : objects)
        {
            client.resource(o).create();
        }
        return objects.size();
    }

    /**
     * @param n a Node.
     * @return a copy without {@link #FLANNEL_PREFIX} annotations.
     */
    static Node withoutFlannelAnnotations(final Node n)
    {
        final Node bare = new NodeBuilder(n).build();
        if (bare.getMetadata().getAnnotations() != null)
        {
            bare.getMetadata().getAnnotations().keySet().removeIf(k -> k.startsWith(FLANNEL_PREFIX));
        }
        return bare;
    }

    /**
     * fabric8's CRUD dispatcher with two rules of kube-apiserver: a {@code PATCH nodes/NAME/status} keeps metadata
     * changes (the Node status strategy resets only the spec; the mock's generic status handling would keep only
     * {@code .status}, losing flanneld's and ferry's annotations), and a Pod list or watch with the field selector
     * {@code spec.nodeName=...} is answered (the mock answers it with nothing; it is served unfiltered here, and
     * the agent drops other nodes' Pods itself).
     */
    static final class LabDispatcher extends KubernetesCrudDispatcher
    {
        private static final Pattern NODE_STATUS = Pattern.compile("/api/v1/nodes/[^/?]+/status(\\?.*)?");
        private static final Pattern POD_NODE_SELECTOR =
            Pattern.compile("fieldSelector=spec\\.nodeName(%3D|=)[^&]*&?");

        @Override
        public MockResponse dispatch(final RecordedRequest request)
        {
            final String path = request.getPath();
            if (path.startsWith("/api/v1/pods?") || path.matches("/api/v1/namespaces/[^/]+/pods\\?.*"))
            {
                final String unfiltered = POD_NODE_SELECTOR.matcher(path).replaceAll("").replaceFirst("[?&]$", "");
                if (!unfiltered.equals(path))
                {
                    return super.dispatch(new RecordedRequest(request.getHttpVersion(), request.method(),
                        unfiltered, request.getHeaders(), request.getBody()));
                }
            }
            return super.dispatch(request);
        }

        @Override
        public MockResponse handlePatch(final RecordedRequest request)
        {
            final String path = request.getPath();
            if (NODE_STATUS.matcher(path).matches())
            {
                return super.handlePatch(new RecordedRequest(request.getHttpVersion(), request.method(),
                    path.replaceFirst("/status", ""), request.getHeaders(), request.getBody()));
            }
            return super.handlePatch(request);
        }
    }
}
