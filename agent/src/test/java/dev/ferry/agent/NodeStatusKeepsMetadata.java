package dev.ferry.agent;

import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * fabric8's CRUD mock dispatcher with kube-apiserver's rule for {@code PATCH nodes/NAME/status}: the Node status
 * strategy resets only the spec, so metadata changes (flanneld's annotations) are kept, while the mock's generic
 * status handling keeps only {@code .status}. A Node status patch is applied to the whole Node here; the
 * requests still arrive at {@code /status}, and {@link #statusPatches()} counts them.
 */
class NodeStatusKeepsMetadata extends KubernetesCrudDispatcher
{
    private final AtomicInteger statusPatches = new AtomicInteger();

    @Override
    public MockResponse handlePatch(final RecordedRequest request)
    {
        final String path = request.getPath();
        if (path.matches("/api/v1/nodes/[^/?]+/status(\\?.*)?"))
        {
            statusPatches.incrementAndGet();
            return super.handlePatch(new RecordedRequest(request.getHttpVersion(), request.method(),
                path.replaceFirst("/status", ""), request.getHeaders(), request.getBody()));
        }
        return super.handlePatch(request);
    }

    /** @return the PATCH requests received on a Node's status subresource. */
    int statusPatches()
    {
        return statusPatches.get();
    }
}
