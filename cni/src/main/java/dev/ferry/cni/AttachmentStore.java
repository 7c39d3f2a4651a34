package dev.ferry.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the plugin remembers between calls: one small JSON file per attachment under
 * {@code stateDir/NETWORK/CONTAINERID@IFNAME} (a container id never holds '@'). CHECK reads it to find the TAP
 * the node gave the pod; GC lists it to find attachments the runtime no longer knows.
 */
final class AttachmentStore
{
    private final Path dir;

    AttachmentStore(final NetConf conf)
    {
        this.dir = conf.stateDir().resolve(conf.name());
    }

    /**
     * A recorded attachment.
     *
     * @param containerId container id.
     * @param ifName      interface name in the container.
     * @param netns       the container's namespace path.
     * @param tap         the node's TAP name.
     * @param ip          the pod address.
     */
    record Record(String containerId, String ifName, String netns, String tap, String ip)
    {
    }

    private Path file(final String containerId, final String ifName)
    {
        return dir.resolve(containerId + "@" + ifName);
    }

    void write(final Record r)
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("containerId", r.containerId());
        m.put("ifName", r.ifName());
        m.put("netns", r.netns());
        m.put("tap", r.tap());
        m.put("ip", r.ip());
        final Path f = file(r.containerId(), r.ifName());
        try
        {
            Files.createDirectories(dir);
            final Path tmp = dir.resolve("." + f.getFileName() + ".tmp");
            Files.writeString(tmp, Fields.write(m) + "\n", StandardCharsets.UTF_8);
            try
            {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            catch (final AtomicMoveNotSupportedException e)
            {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "recording the attachment in " + f + ": " + e, e);
        }
    }

    Record read(final String containerId, final String ifName)
    {
        final Path f = file(containerId, ifName);
        try
        {
            return parse(Files.readString(f, StandardCharsets.UTF_8), f);
        }
        catch (final NoSuchFileException e)
        {
            return null;
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "reading " + f + ": " + e, e);
        }
    }

    private static Record parse(final String text, final Path f)
    {
        final Fields r = Fields.parse(text, f.toString(), CniError.IO_FAILURE, CniError.IO_FAILURE);
        return new Record(r.text("containerId"), r.text("ifName"), r.optText("netns", null), r.text("tap"),
            r.text("ip"));
    }

    void delete(final String containerId, final String ifName)
    {
        try
        {
            Files.deleteIfExists(file(containerId, ifName));
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "removing the record of " + containerId + "/" + ifName
                + ": " + e, e);
        }
    }

    List<Record> list()
    {
        final List<Record> out = new ArrayList<>();
        if (!Files.isDirectory(dir))
        {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir))
        {
            for (final Path f : files)
            {
                if (!f.getFileName().toString().startsWith(".") && f.getFileName().toString().contains("@"))
                {
                    out.add(parse(Files.readString(f, StandardCharsets.UTF_8), f));
                }
            }
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "listing " + dir + ": " + e, e);
        }
        return out;
    }
}
