package dev.ferry.node.cli;

import dev.ferry.nodeapi.ConsoleLogging;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;

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

    /**
     * Replaces the root logger's handlers with one concise console handler ({@link ConsoleLogging}).
     *
     * @param level error, warn, info, debug or trace.
     */
    public static void configure(final String level)
    {
        ConsoleLogging.configure(level);
    }
}
