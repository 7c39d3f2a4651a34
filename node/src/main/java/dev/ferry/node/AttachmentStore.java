package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.route.Ip4;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The node's record of attached pods ({@code attachments.json} beside the API socket), written on every attach
 * and detach, so that a restarted node attaches again to the pods' persistent TAPs before any table push.
 *
 * <pre>
 * {"v":1,"attachments":[{"containerId":"c1","ifName":"eth0","netns":"/run/netns/p1","podNamespace":"default",
 *   "podName":"web-1","ip":"10.244.1.5","mac":"0a:58:0a:f4:01:05","tap":"tap0af40105",
 *   "gateway":"10.244.1.1","gatewayMac":"0a:58:0a:f4:01:01","mtu":1450}]}
 * </pre>
 *
 * <p>Writes go to a temporary file that is then renamed over the old one, so a crash leaves either state whole.
 */
final class AttachmentStore
{
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;

    AttachmentStore(final Path file)
    {
        this.file = file;
    }

    /** @return the file. */
    Path file()
    {
        return file;
    }

    /**
     * @return the attachments recorded, none when there is no file.
     * @throws IOException when the file cannot be read or is malformed.
     */
    List<PodAttachment> load() throws IOException
    {
        if (!Files.exists(file))
        {
            return List.of();
        }
        final List<PodAttachment> out = new ArrayList<>();
        try
        {
            final JsonNode root = JSON.readTree(Files.readString(file));
            for (final JsonNode a : root.path("attachments"))
            {
                out.add(new PodAttachment(text(a, "containerId"), text(a, "ifName"), text(a, "netns"),
                    text(a, "podNamespace"), text(a, "podName"), Ip4.parse(text(a, "ip")), Ip4.parseMac(text(a, "mac")),
                    text(a, "tap"), Ip4.parse(text(a, "gateway")), Ip4.parseMac(text(a, "gatewayMac")),
                    a.path("mtu").asInt()));
            }
        }
        catch (final IOException | RuntimeException e)
        {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        return out;
    }

    private static String text(final JsonNode n, final String field)
    {
        final JsonNode v = n.get(field);
        if (v == null || !v.isTextual())
        {
            throw new IllegalArgumentException("attachments[]." + field + ": required text");
        }
        return v.asText();
    }

    /**
     * Replaces the record.
     *
     * @param attachments every attachment of the node.
     * @throws IOException when the file cannot be written.
     */
    void save(final Collection<PodAttachment> attachments) throws IOException
    {
        final ObjectNode root = JSON.createObjectNode();
        root.put("v", 1);
        final ArrayNode list = root.putArray("attachments");
        for (final PodAttachment a : attachments)
        {
            final ObjectNode o = list.addObject();
            o.put("containerId", a.containerId());
            o.put("ifName", a.ifName());
            o.put("netns", a.netns());
            o.put("podNamespace", a.podNamespace());
            o.put("podName", a.podName());
            o.put("ip", Ip4.format(a.ip()));
            o.put("mac", Ip4.formatMac(a.mac()));
            o.put("tap", a.tapName());
            o.put("gateway", Ip4.format(a.gatewayIp()));
            o.put("gatewayMac", Ip4.formatMac(a.gatewayMac()));
            o.put("mtu", a.mtu());
        }
        final Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        final Path tmp = parent.resolve(file.getFileName() + ".tmp");
        Files.writeString(tmp, JSON.writeValueAsString(root) + "\n");
        try
        {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        catch (final AtomicMoveNotSupportedException e)
        {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
