package dev.ferry.agent.cli;

import java.net.URI;
import java.util.Map;

/**
 * Where the agent reaches the API server when ferry itself serves the cluster's Services: the in-cluster address
 * is the {@code kubernetes} ClusterIP, which nothing serves before ferry has its tables, so a cluster without
 * kube-proxy must name the API server directly, as kube-proxy's {@code --master} and Cilium's
 * {@code k8sServiceHost} do.
 *
 * <p>Order: {@code --api-server URL}; else {@code FERRY_K8S_SERVICE_HOST} (and {@code FERRY_K8S_SERVICE_PORT},
 * default 443 when unset or empty); else none (the kubeconfig's or the in-cluster address is used).
 */
final class ApiServerAddress
{
    static final String HOST_ENV = "FERRY_K8S_SERVICE_HOST";
    static final String PORT_ENV = "FERRY_K8S_SERVICE_PORT";

    private ApiServerAddress()
    {
    }

    /**
     * @param flag the {@code --api-server} value, or null.
     * @param env  the environment.
     * @return the API server URL to use instead of the configured one, or null to keep it.
     * @throws IllegalArgumentException when the flag or the environment names no usable https URL.
     */
    static String resolve(final String flag, final Map<String, String> env)
    {
        if (flag != null && !flag.isBlank())
        {
            return check(flag.strip(), "--api-server");
        }
        final String host = env.get(HOST_ENV);
        if (host == null || host.isBlank())
        {
            return null;
        }
        // an empty port is unset, as an empty host is: the DaemonSet passes the ConfigMap's optional key through
        final String given = env.getOrDefault(PORT_ENV, "").strip();
        final String port = given.isEmpty() ? "443" : given;
        try
        {
            final int p = Integer.parseInt(port);
            if (p < 1 || p > 65535)
            {
                throw new NumberFormatException();
            }
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException(PORT_ENV + ": '" + port + "' is not a TCP port", e);
        }
        final String h = host.strip();
        // an IPv6 literal needs brackets in a URL
        final String authority = h.contains(":") && !h.startsWith("[") ? "[" + h + "]" : h;
        return check("https://" + authority + ":" + port, HOST_ENV);
    }

    private static String check(final String url, final String source)
    {
        final URI uri;
        try
        {
            uri = URI.create(url);
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException(source + ": '" + url + "' is not a URL", e);
        }
        if (!"https".equals(uri.getScheme()) || uri.getHost() == null)
        {
            throw new IllegalArgumentException(source + ": '" + url + "' is not an https://HOST[:PORT] URL");
        }
        return url;
    }
}
