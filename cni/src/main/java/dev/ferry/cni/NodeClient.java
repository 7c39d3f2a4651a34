package dev.ferry.cni;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The node API, version 1, as the plugin speaks it: one JSON object per line on the node's Unix socket, one
 * request and one answer per connection.
 *
 * <pre>
 * {"v":1,"op":"attach","containerId":..,"ifName":..,"netns":..,"podNamespace":..,"podName":..,"ip":..,"mac":..}
 *     → {"v":1,"ok":true,"op":"attach","tap":..,"mac":..,"mtu":..,"gateway":..,"gatewayMac":..,"ip":..}
 * {"v":1,"op":"detach","containerId":..,"ifName":..}   → {"v":1,"ok":true,"op":"detach","detached":true}
 * {"v":1,"op":"show","what":"ports"}                  → {"v":1,"ok":true,"op":"show","lines":[...]}
 * {"v":1,"op":"health"}                               → {"v":1,"ok":true,"op":"health",...}
 * errors: {"v":1,"ok":false,"op":..,"error":"sentence"}
 * </pre>
 *
 * A node that cannot be reached is {@link CniError#TRY_AGAIN_LATER}; a refusal is {@link CniError#NODE_REFUSED}
 * (or try-again when the node says it has no tables yet, which clears once the agent pushes).
 */
final class NodeClient
{
    /** Protocol version. */
    static final int VERSION = 1;
    /** How long one exchange may take; an attach waits for the worker to poll the new port. */
    static final long TIMEOUT_MILLIS = 15_000;
    private static final int MAX_ANSWER = 1 << 20;

    private final Path socket;

    NodeClient(final Path socket)
    {
        this.socket = socket;
    }

    /**
     * Thrown when nobody listens on the socket (no file, or the connection is refused): the daemon is not running,
     * so it holds no attachment either.
     */
    static final class NodeDownException extends CniException
    {
        private static final long serialVersionUID = 1L;

        NodeDownException(final String detail)
        {
            super(CniError.TRY_AGAIN_LATER, detail);
        }
    }

    static Map<String, Object> request(final String op)
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("v", VERSION);
        m.put("op", op);
        return m;
    }

    /**
     * Sends one request and reads the answer.
     *
     * @param request the request object.
     * @return the answer's fields, known to carry {@code "ok":true}.
     * @throws CniException 11 when the node is unreachable, 101 when it refuses.
     */
    Fields call(final Map<String, Object> request)
    {
        final String op = String.valueOf(request.get("op"));
        final String line = exchange(Fields.write(request));
        final Fields answer = Fields.parse(line, "the node's answer to " + op, CniError.NODE_REFUSED,
            CniError.NODE_REFUSED);
        if (!answer.optBool("ok", false))
        {
            final String error = answer.optText("error", "no reason given");
            if (error.startsWith("no tables yet"))
            {
                throw new CniException(CniError.TRY_AGAIN_LATER, "node " + socket + ": " + error);
            }
            throw new CniException(CniError.NODE_REFUSED, "node " + socket + " refused " + op + ": " + error);
        }
        return answer;
    }

    private String exchange(final String requestLine)
    {
        if (!Files.exists(socket))
        {
            throw new NodeDownException("node not reachable: no socket at " + socket
                + " (is 'ferry node' running?)");
        }
        final SocketChannel ch;
        try
        {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "cannot open a Unix socket: " + e.getMessage(), e);
        }
        final Thread watchdog = Thread.ofPlatform().daemon().name("ferry-cni-timeout").start(() ->
        {
            try
            {
                Thread.sleep(TIMEOUT_MILLIS);
                ch.close();
            }
            catch (final InterruptedException | IOException e)
            {
                // finished in time, or already closed
            }
        });
        try (ch)
        {
            try
            {
                ch.connect(UnixDomainSocketAddress.of(socket));
            }
            catch (final ConnectException e)
            {
                throw new NodeDownException("node not reachable at " + socket + ": " + e.getMessage());
            }
            final ByteBuffer out = ByteBuffer.wrap((requestLine + "\n").getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining())
            {
                ch.write(out);
            }
            return readLine(ch);
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.TRY_AGAIN_LATER, "node not reachable at " + socket + ": "
                + (watchdog.isAlive() ? e.toString() : "no answer within " + TIMEOUT_MILLIS + " ms"), e);
        }
        finally
        {
            watchdog.interrupt();
        }
    }

    private String readLine(final SocketChannel ch) throws IOException
    {
        final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
        final ByteBuffer buf = ByteBuffer.allocate(4096);
        while (true)
        {
            buf.clear();
            final int n = ch.read(buf);
            if (n < 0)
            {
                if (line.size() == 0)
                {
                    throw new IOException("the node closed the connection without answering");
                }
                break;
            }
            final byte[] a = buf.array();
            int end = -1;
            for (int i = 0; i < n; i++)
            {
                if (a[i] == '\n')
                {
                    end = i;
                    break;
                }
            }
            line.write(a, 0, end < 0 ? n : end);
            if (end >= 0)
            {
                break;
            }
            if (line.size() > MAX_ANSWER)
            {
                throw new IOException("the node's answer is longer than " + MAX_ANSWER + " bytes");
            }
        }
        return line.toString(StandardCharsets.UTF_8);
    }
}
