package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes this node's CNI conflist from a template once the node's pod CIDR is known, as flannel writes
 * {@code subnet.env} for its CNI plugin. The template (the {@code ferry-cni-config} ConfigMap in
 * {@code deploy/}) holds {@value #SUBNET} and {@value #GATEWAY} where host-local IPAM needs this node's
 * subnet and gateway; the file is replaced atomically and only when its content changes, so the kubelet
 * sees a conflist (and marks the node Ready) only when pods can get addresses.
 */
public final class CniConfigWriter
{
    /** Placeholder for the node's pod CIDR ({@code spec.podCIDR}). */
    public static final String SUBNET = "usePodCidr";
    /** Placeholder for the pods' gateway (first address of the pod CIDR). */
    public static final String GATEWAY = "usePodGateway";

    private final Path template;
    private final Path out;

    /**
     * @param template the conflist template.
     * @param out      where the kubelet reads it, e.g. {@code /etc/cni/net.d/10-ferry.conflist}.
     */
    public CniConfigWriter(final Path template, final Path out)
    {
        this.template = template;
        this.out = out;
    }

    /**
     * Writes the conflist for these tables, unless the node has no pod CIDR yet or the file is already right.
     *
     * @param tables the node's tables.
     * @return whether the file was (re)written.
     * @throws IOException when the template cannot be read or the file cannot be written.
     */
    public boolean write(final NodeTables tables) throws IOException
    {
        if (tables.node().podCidr() == null)
        {
            return false;
        }
        final String text = Files.readString(template)
            .replace(SUBNET, tables.node().podCidr().toString())
            .replace(GATEWAY, Ip4.format(tables.node().gatewayIp()));
        if (Files.exists(out) && Files.readString(out).equals(text))
        {
            return false;
        }
        final Path tmp = out.resolveSibling("." + out.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return true;
    }
}
