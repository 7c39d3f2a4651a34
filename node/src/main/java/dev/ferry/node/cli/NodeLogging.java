package dev.ferry.node.cli;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * One concise line per event on standard error: {@code 2025-01-01T10:00:00Z INFO  message}.
 */
public final class NodeLogging
{
    private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_INSTANT.withZone(ZoneOffset.UTC);

    private NodeLogging()
    {
    }

    /**
     * Writes one line in the same format straight to standard error, for the last words of a shutdown hook
     * (java.util.logging closes its handlers in its own shutdown hook, in no set order with ours).
     *
     * @param level   level name, e.g. "INFO".
     * @param message the message.
     */
    public static void direct(final String level, final String message)
    {
        System.err.println(TIME.format(Instant.now().truncatedTo(ChronoUnit.SECONDS)) + " "
            + String.format("%-5s", level) + " " + message);
    }

    /** Replaces the root logger's handlers with one concise console handler. */
    public static void configure()
    {
        final Logger root = Logger.getLogger("");
        for (final Handler h : root.getHandlers())
        {
            root.removeHandler(h);
        }
        final ConsoleHandler console = new ConsoleHandler();
        console.setLevel(Level.INFO);
        console.setFormatter(new Formatter()
        {
            @Override
            public String format(final LogRecord r)
            {
                return TIME.format(Instant.ofEpochMilli(r.getMillis()).truncatedTo(ChronoUnit.SECONDS))
                    + " " + String.format("%-5s", r.getLevel().getName().replace("WARNING", "WARN")
                    .replace("SEVERE", "ERROR")) + " " + formatMessage(r) + System.lineSeparator();
            }
        });
        root.addHandler(console);
        root.setLevel(Level.INFO);
    }
}
