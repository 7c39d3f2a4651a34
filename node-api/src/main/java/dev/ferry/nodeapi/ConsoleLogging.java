package dev.ferry.nodeapi;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The log setup of {@code ferry node} and {@code ferry agent}: one concise line per event on standard error,
 * {@code 2025-01-01T10:00:00Z WARN  message}, at the level of {@code --log-level}. Libraries that log through
 * slf4j (fabric8's informers, netty) arrive here too: the {@code ferry} binary binds slf4j to java.util.logging
 * ({@code slf4j-jdk14}), whose levels map as error → SEVERE, warn → WARNING, info → INFO, debug → FINE,
 * trace → FINEST.
 */
public final class ConsoleLogging
{
    /** The levels {@code --log-level} accepts, least verbose first. */
    public static final List<String> LEVELS = List.of("error", "warn", "info", "debug", "trace");

    private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_INSTANT.withZone(ZoneOffset.UTC);

    private ConsoleLogging()
    {
    }

    /**
     * @param level error, warn, info, debug or trace (any case).
     * @return the java.util.logging level.
     * @throws IllegalArgumentException for another name.
     */
    public static Level level(final String level)
    {
        return switch (level == null ? "" : level.toLowerCase(Locale.ROOT))
        {
            case "error" -> Level.SEVERE;
            case "warn" -> Level.WARNING;
            case "info" -> Level.INFO;
            case "debug" -> Level.FINE;
            case "trace" -> Level.FINEST;
            default -> throw new IllegalArgumentException("log level: '" + level + "' is not one of "
                + String.join(", ", LEVELS));
        };
    }

    /**
     * Replaces the root logger's handlers with one concise console handler at a level.
     *
     * @param level error, warn, info, debug or trace.
     */
    public static void configure(final String level)
    {
        final Level l = level(level);
        final Logger root = Logger.getLogger("");
        for (final Handler h : root.getHandlers())
        {
            root.removeHandler(h);
        }
        final ConsoleHandler console = new ConsoleHandler();
        console.setLevel(l);
        console.setFormatter(new Formatter()
        {
            @Override
            public String format(final LogRecord r)
            {
                final String line = TIME.format(Instant.ofEpochMilli(r.getMillis()).truncatedTo(ChronoUnit.SECONDS))
                    + " " + String.format("%-5s", name(r.getLevel())) + " " + r.getLoggerName() + ": "
                    + formatMessage(r);
                return r.getThrown() == null ? line + System.lineSeparator()
                    : line + " (" + r.getThrown() + ")" + System.lineSeparator();
            }
        });
        root.addHandler(console);
        root.setLevel(l);
    }

    private static String name(final Level l)
    {
        if (l.intValue() >= Level.SEVERE.intValue())
        {
            return "ERROR";
        }
        if (l.intValue() >= Level.WARNING.intValue())
        {
            return "WARN";
        }
        if (l.intValue() >= Level.INFO.intValue())
        {
            return "INFO";
        }
        return l.intValue() >= Level.FINE.intValue() ? "DEBUG" : "TRACE";
    }
}
