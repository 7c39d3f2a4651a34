package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeTablesJson;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.logging.Logger;
import java.util.zip.CRC32;

/**
 * The last applied tables in {@code stateDir/tables.json}, so that a restarted node builds its NAT stages and
 * routes at once, before the agent's first push: no window where Service packets pass untranslated.
 *
 * <pre>
 *  line 1: {"format":1,"generation":8,"length":N,"crc32":C}    header
 *  line 2: the tables as the API's push carries them (N bytes, CRC-32 C)
 * </pre>
 *
 * <p>Written after each applied push to a temporary file that is forced to disk, then renamed over the old one
 * (atomic: a crash leaves the old file or the new one, never half of one). A file of another format, with a
 * wrong length or checksum, or tables the node refuses, is renamed {@code tables.json.corrupt-<epoch ms>} with a
 * warning; it is never half-read.
 */
final class TablesFile
{
    /** The file's name in the state directory. */
    static final String NAME = "tables.json";
    /** The format this node writes and reads. */
    static final int FORMAT = 1;

    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private TablesFile()
    {
    }

    /**
     * Writes the tables (atomically).
     *
     * @param dir    the state directory (created when absent).
     * @param tables the tables just applied.
     * @throws IOException when writing fails.
     */
    static void write(final Path dir, final NodeTables tables) throws IOException
    {
        final byte[] body = NodeTablesJson.encode(tables).toString().getBytes(StandardCharsets.UTF_8);
        final CRC32 crc = new CRC32();
        crc.update(body);
        final byte[] header = (MAPPER.createObjectNode().put("format", FORMAT).put("generation", tables.generation())
            .put("length", body.length).put("crc32", crc.getValue()) + "\n").getBytes(StandardCharsets.UTF_8);
        Files.createDirectories(dir);
        final Path tmp = dir.resolve(NAME + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING))
        {
            final ByteBuffer b = ByteBuffer.allocate(header.length + body.length + 1);
            b.put(header).put(body).put((byte)'\n').flip();
            while (b.hasRemaining())
            {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, dir.resolve(NAME), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Reads the tables; a damaged file is set aside.
     *
     * @param dir the state directory.
     * @return the tables, or null when there is no file or it was set aside.
     */
    static NodeTables read(final Path dir)
    {
        final Path file = dir.resolve(NAME);
        final byte[] all;
        try
        {
            all = Files.readAllBytes(file);
        }
        catch (final NoSuchFileException e)
        {
            return null;
        }
        catch (final IOException e)
        {
            LOG.warning(() -> "last applied tables " + file + " cannot be read (" + e.getMessage() + "): waiting for"
                + " the agent's tables");
            return null;
        }
        try
        {
            return parse(all);
        }
        catch (final IOException | RuntimeException e)
        {
            setAside(file, e.getMessage());
            return null;
        }
    }

    private static NodeTables parse(final byte[] all) throws IOException
    {
        int nl = 0;
        while (nl < all.length && all[nl] != '\n')
        {
            nl++;
        }
        if (nl == all.length)
        {
            throw new IOException("no header line");
        }
        final JsonNode header = MAPPER.readTree(new String(all, 0, nl, StandardCharsets.UTF_8));
        if (header == null || header.path("format").asInt(-1) != FORMAT)
        {
            throw new IOException("format " + (header == null ? "?" : header.path("format")) + ", this node reads "
                + FORMAT);
        }
        final long length = header.path("length").asLong(-1);
        if (length < 0 || nl + 1 + length > all.length)
        {
            throw new IOException("truncated: " + (all.length - nl - 1) + " bytes of tables, " + length + " expected");
        }
        final CRC32 crc = new CRC32();
        crc.update(all, nl + 1, (int)length);
        if (crc.getValue() != header.path("crc32").asLong(-1))
        {
            throw new IOException("checksum mismatch");
        }
        final long generation = header.path("generation").asLong();
        final JsonNode tables = MAPPER.readTree(new String(all, nl + 1, (int)length, StandardCharsets.UTF_8));
        return NodeTablesJson.decode(tables, "tables", generation);
    }

    /**
     * Renames a file the node cannot use to {@code NAME.corrupt-<epoch ms>}, with a warning.
     *
     * @param file the file.
     * @param why  what is wrong with it.
     */
    static void setAside(final Path file, final String why)
    {
        final Path aside = file.resolveSibling(NAME + ".corrupt-" + System.currentTimeMillis());
        try
        {
            Files.move(file, aside, StandardCopyOption.REPLACE_EXISTING);
            LOG.warning(() -> "last applied tables " + file + " unusable (" + why + "): renamed to " + aside
                + "; waiting for the agent's tables");
        }
        catch (final IOException e)
        {
            LOG.warning(() -> "last applied tables " + file + " unusable (" + why + ") and cannot be renamed ("
                + e.getMessage() + "); waiting for the agent's tables");
        }
    }
}
