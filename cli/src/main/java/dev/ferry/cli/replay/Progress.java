package dev.ferry.cli.replay;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * The progress line of a long replay, on stderr: {@code ferry replay: 1234567 frames, 812345 frames/s, 41%}.
 * It appears once a run has taken {@link #DELAY_NANOS} and is redrawn in place ({@code \r}) at most every
 * {@link #PERIOD_NANOS}; {@link #finish()} ends the line. It is shown only when stderr is a terminal and the user
 * did not ask for {@code --quiet}, so files and pipes never receive it.
 */
public final class Progress
{
    /** How long a run goes before the line appears. */
    public static final long DELAY_NANOS = 2_000_000_000L;
    /** How often the line is redrawn. */
    public static final long PERIOD_NANOS = 250_000_000L;
    /** Frames between two looks at the clock. */
    private static final int CHECK_EVERY = 4096;

    private final PrintWriter err;
    private final LongSupplier nanoTime;
    private final long start;
    private final boolean enabled;
    private long nextDraw;
    private int sinceCheck;
    private boolean drawn;

    /**
     * @param err      where the line goes (stderr).
     * @param nanoTime the clock ({@code System::nanoTime}).
     * @param enabled  whether to show it at all (stderr is a terminal and no {@code --quiet}).
     */
    public Progress(final PrintWriter err, final LongSupplier nanoTime, final boolean enabled)
    {
        this.err = err;
        this.nanoTime = nanoTime;
        this.enabled = enabled;
        this.start = nanoTime.getAsLong();
        this.nextDraw = start + DELAY_NANOS;
    }

    /** @return whether file descriptor 2 of this process is a terminal (Linux: {@code /proc/self/fd/2}). */
    public static boolean stderrIsTerminal()
    {
        try
        {
            final String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        }
        catch (final IOException | UnsupportedOperationException e)
        {
            return false;
        }
    }

    /**
     * Called after each frame; cheap: it looks at the clock every few thousand frames.
     *
     * @param frames    frames read so far.
     * @param bytesRead bytes of the input read so far.
     * @param size      the input's size in bytes.
     */
    public void update(final long frames, final long bytesRead, final long size)
    {
        if (!enabled || ++sinceCheck < CHECK_EVERY)
        {
            return;
        }
        sinceCheck = 0;
        final long now = nanoTime.getAsLong();
        if (now < nextDraw)
        {
            return;
        }
        nextDraw = now + PERIOD_NANOS;
        final double seconds = (now - start) / 1e9;
        err.print(String.format(Locale.ROOT, "\rferry replay: %d frames, %.0f frames/s, %d%%", frames,
            frames / seconds, size == 0 ? 100 : bytesRead * 100 / size));
        err.flush();
        drawn = true;
    }

    /** Ends the line, if one was drawn, so that what follows starts on a fresh line. */
    public void finish()
    {
        if (drawn)
        {
            err.println();
            err.flush();
            drawn = false;
        }
    }
}
