package dev.ferry.nodeapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A client of a running node's API (the agent, the lab and {@code ferry show} use it). One request
 * at a time over one connection; a refusal comes back as an {@link ApiException} with the node's sentence.
 */
public final class NodeApiClient implements AutoCloseable
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final SocketChannel channel;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private final ByteBuffer buf = ByteBuffer.allocate(65536);

    /** The node refused a request. */
    public static final class ApiException extends IOException
    {
        private static final long serialVersionUID = 1L;

        /**
         * @param message the node's sentence.
         */
        public ApiException(final String message)
        {
            super(message);
        }
    }

    private NodeApiClient(final SocketChannel channel)
    {
        this.channel = channel;
    }

    /**
     * Connects.
     *
     * @param socket the node's API socket.
     * @return the client.
     * @throws IOException when no node answers there.
     */
    public static NodeApiClient connect(final Path socket) throws IOException
    {
        final SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try
        {
            ch.connect(UnixDomainSocketAddress.of(socket));
        }
        catch (final IOException e)
        {
            ch.close();
            throw new IOException("cannot reach the node API at " + socket + ": " + e.getMessage(), e);
        }
        return new NodeApiClient(ch);
    }

    /**
     * Sends a raw request and reads the answer.
     *
     * @param request the request object ({@code "v"} is added when missing).
     * @return the answer, whatever its {@code ok}.
     * @throws IOException when the connection fails.
     */
    public JsonNode call(final ObjectNode request) throws IOException
    {
        if (!request.has("v"))
        {
            request.put("v", NodeApi.VERSION);
        }
        return callRaw(request.toString());
    }

    /**
     * Sends a request line as is (for tests of malformed input).
     *
     * @param line one line of text, without the newline.
     * @return the answer.
     * @throws IOException when the connection fails.
     */
    public JsonNode callRaw(final String line) throws IOException
    {
        final ByteBuffer out = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining())
        {
            channel.write(out);
        }
        return MAPPER.readTree(readLine());
    }

    private String readLine() throws IOException
    {
        while (true)
        {
            final byte[] have = pending.toByteArray();
            for (int i = 0; i < have.length; i++)
            {
                if (have[i] == '\n')
                {
                    pending.reset();
                    pending.write(have, i + 1, have.length - i - 1);
                    return new String(have, 0, i, StandardCharsets.UTF_8);
                }
            }
            buf.clear();
            final int n = channel.read(buf);
            if (n < 0)
            {
                throw new IOException("the node closed the connection");
            }
            pending.write(buf.array(), 0, n);
        }
    }

    /**
     * Sends a request and returns the answer when the node accepted it.
     *
     * @param request the request object ({@code "v"} is added when missing).
     * @return the answer ({@code "ok":true}).
     * @throws IOException when refused ({@link ApiException}, with the node's sentence) or the connection fails.
     */
    public JsonNode callOk(final ObjectNode request) throws IOException
    {
        final JsonNode r = call(request);
        if (!r.path("ok").asBoolean(false))
        {
            throw new ApiException(r.path("error").asText("refused without a reason"));
        }
        return r;
    }

    private static ObjectNode op(final String name)
    {
        return MAPPER.createObjectNode().put("v", NodeApi.VERSION).put("op", name);
    }

    /**
     * Pushes tables.
     *
     * @param generation the push's generation (must grow).
     * @param tables     the tables.
     * @return the generation the node acknowledged.
     * @throws IOException when refused or the connection fails.
     */
    public long push(final long generation, final NodeTables tables) throws IOException
    {
        final ObjectNode req = op("push").put("generation", generation);
        req.set("tables", NodeTablesJson.encode(tables.withGeneration(generation)));
        return callOk(req).path("generation").asLong();
    }

    /**
     * Attaches a pod.
     *
     * @param r the request.
     * @return the answer: tap, mac, mtu, gateway, gatewayMac, ip.
     * @throws IOException when refused or the connection fails.
     */
    public JsonNode attach(final AttachRequest r) throws IOException
    {
        final ObjectNode req = op("attach").put("containerId", r.containerId()).put("ifName", r.ifName())
            .put("netns", r.netns()).put("podNamespace", r.podNamespace()).put("podName", r.podName())
            .put("ip", Ip4.format(r.ip()));
        if (r.mac() >= 0)
        {
            req.put("mac", Ip4.formatMac(r.mac()));
        }
        return callOk(req);
    }

    /**
     * Detaches a pod (idempotent).
     *
     * @param containerId container id.
     * @param ifName      interface name.
     * @return whether a port was removed.
     * @throws IOException when refused or the connection fails.
     */
    public boolean detach(final String containerId, final String ifName) throws IOException
    {
        return callOk(op("detach").put("containerId", containerId).put("ifName", ifName)).path("detached")
            .asBoolean();
    }

    /**
     * Runs a {@code show} query for data ({@code ferry show VIEW -o json}).
     *
     * @param what routes, neighbors, services, stats, runtime, trace or ports.
     * @return the answer: {@code what} and the view's fields (node's README documents them).
     * @throws IOException when refused or the connection fails.
     */
    public JsonNode showJson(final String what) throws IOException
    {
        return callOk(op("show").put("what", what).put("format", "json"));
    }

    /**
     * Runs a {@code show} query.
     *
     * @param what routes, neighbors, services, conntrack, stats, runtime, trace or ports.
     * @return the lines.
     * @throws IOException when refused or the connection fails.
     */
    public List<String> show(final String what) throws IOException
    {
        final JsonNode r = callOk(op("show").put("what", what));
        final List<String> lines = new ArrayList<>();
        r.path("lines").forEach(l -> lines.add(l.asText()));
        return lines;
    }

    /**
     * Traces the next packets.
     *
     * @param packets how many.
     * @throws IOException when refused or the connection fails.
     */
    public void traceAdd(final int packets) throws IOException
    {
        callOk(op("trace").put("add", packets));
    }

    /**
     * Traces the next packets that match a tcpdump filter expression (compiled by the node's libpcap).
     *
     * @param packets how many.
     * @param filter  the expression, e.g. {@code "tcp port 80"}.
     * @throws IOException when refused (a bad expression, no libpcap on the node) or the connection fails.
     */
    public void traceAdd(final int packets, final String filter) throws IOException
    {
        callOk(op("trace").put("add", packets).put("filter", filter));
    }

    /**
     * @return the node's health answer (node, generation, ports, pods, uptimeSeconds).
     * @throws IOException when the connection fails.
     */
    public JsonNode health() throws IOException
    {
        return callOk(op("health"));
    }

    @Override
    public void close() throws IOException
    {
        channel.close();
    }
}
