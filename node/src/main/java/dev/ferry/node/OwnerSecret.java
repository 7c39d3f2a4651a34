package dev.ferry.node;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.logging.Logger;

/**
 * The secret of the ownership rule's keyed hash ({@code FlowOwner}), kept in the state directory beside the conntrack
 * state files so that it survives a restart.
 *
 * <p>Why: with several workers each worker restores its own conntrack shard ({@code conntrack.state.W}), and a flow
 * must come back to the worker that holds its entry. A secret drawn afresh at each start sent about half of the
 * restored flows to the other worker, which created a second binding: another SNAT port for a masqueraded
 * connection, answered by the remote end with a reset (issue 17: {@code ConntrackRestartTest} with two workers).
 *
 * <p>The file holds the secret and the worker count it was drawn for (12 bytes, 0600, written to a temporary file
 * and moved into place). A missing, short or unreadable file, or one written for another worker count (whose shards
 * do not match this one's anyway), gives a new secret, written back; the node starts whatever happens.
 */
final class OwnerSecret
{
    /** File name in the state directory. */
    static final String FILE = "owner.secret";

    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    private static final int SIZE = Long.BYTES + Integer.BYTES;

    private OwnerSecret()
    {
    }

    /**
     * The node's ownership secret for {@code workers} workers.
     *
     * @param stateDir the state directory, or null (no state kept: a new secret).
     * @param workers  the worker count.
     * @return the restored secret, or a new one (written back when there is a state directory).
     */
    static long load(final Path stateDir, final int workers)
    {
        if (stateDir == null)
        {
            return new SecureRandom().nextLong();
        }
        final Path file = stateDir.resolve(FILE);
        try
        {
            if (Files.isRegularFile(file))
            {
                final byte[] bytes = Files.readAllBytes(file);
                if (bytes.length == SIZE)
                {
                    final ByteBuffer b = ByteBuffer.wrap(bytes);
                    final long secret = b.getLong();
                    final int drawnFor = b.getInt();
                    if (drawnFor == workers)
                    {
                        LOG.info(() -> "ownership secret restored from " + file + ": flows keep their worker across"
                            + " the restart");
                        return secret;
                    }
                    LOG.warning(() -> "ownership secret in " + file + " was drawn for " + drawnFor + " workers, this"
                        + " node runs " + workers + ": a new one; restored flows may meet another worker and be"
                        + " created again");
                }
                else
                {
                    LOG.warning(() -> "ownership secret in " + file + " is " + bytes.length + " bytes, not " + SIZE
                        + ": a new one");
                }
            }
        }
        catch (final IOException | RuntimeException e)
        {
            LOG.warning(() -> "ownership secret " + file + " cannot be read (" + e + "): a new one");
        }
        final long secret = new SecureRandom().nextLong();
        write(stateDir, file, secret, workers);
        return secret;
    }

    private static void write(final Path dir, final Path file, final long secret, final int workers)
    {
        try
        {
            if (!Files.isDirectory(dir))
            {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
            }
            final Path tmp = Files.createTempFile(dir, FILE, ".tmp", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rw-------")));
            try
            {
                Files.write(tmp, ByteBuffer.allocate(SIZE).putLong(secret).putInt(workers).array());
                try
                {
                    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
                catch (final AtomicMoveNotSupportedException e)
                {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            finally
            {
                Files.deleteIfExists(tmp);
            }
            LOG.info(() -> "ownership secret drawn and kept in " + file);
        }
        catch (final IOException | RuntimeException e)
        {
            LOG.warning(() -> "ownership secret cannot be kept in " + file + " (" + e + "): flows restored after a"
                + " restart may meet another worker");
        }
    }
}
