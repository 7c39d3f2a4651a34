package dev.ferry.cli;

import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * Turns exceptions into the one line a user reads. Exit codes: 0 success, 1 bad input (a file that is missing,
 * a manifest or capture that is malformed), 2 bad usage (picocli's own code for a bad option), 3 an internal
 * error (a bug). The stack trace is printed only under {@code --debug} (or {@code FERRY_DEBUG} set).
 */
final class UserErrors
{
    /** Exit code of bad input: manifests, captures, missing files. */
    static final int EXIT_BAD_INPUT = 1;
    /** Exit code of an internal error. */
    static final int EXIT_INTERNAL = 3;

    private UserErrors()
    {
    }

    static boolean isUserError(final Throwable t)
    {
        return t instanceof IOException || t instanceof IllegalArgumentException
            || t instanceof dev.ferry.core.tables.InvalidTablesException
            || t instanceof dev.ferry.agent.ManifestException;
    }

    static String message(final Throwable t)
    {
        if (t instanceof NoSuchFileException e)
        {
            return "no such file: " + e.getFile();
        }
        final String m = t.getMessage();
        return m == null ? t.getClass().getSimpleName() : m;
    }
}
