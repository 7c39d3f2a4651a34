package dev.ferry.cli;

import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * Turns exceptions into the one line a user reads. Errors in the input (a file that is missing, a manifest
 * or capture that is malformed) exit with 1; anything else is a bug and exits with 70 (EX_SOFTWARE).
 */
final class UserErrors
{
    private UserErrors()
    {
    }

    static boolean isUserError(final Throwable t)
    {
        return t instanceof IOException || t instanceof IllegalArgumentException
            || t instanceof dev.ferry.core.tables.InvalidTablesException;
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
