package dev.ferry.cli;

import dev.ferry.cli.replay.Progress;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ProgressTest
{
    private static final long S = 1_000_000_000L;

    @Test
    void shouldStaySilentForTwoSecondsThenShowFramesRateAndPercent()
    {
        final AtomicLong now = new AtomicLong(10 * S);
        final StringWriter err = new StringWriter();
        final Progress p = new Progress(new PrintWriter(err), now::get, true);

        now.addAndGet(S);
        for (int i = 1; i <= 8192; i++)
        {
            p.update(i, i * 100L, 1_000_000L);
        }
        assertThat(err.toString()).as("nothing before 2 s").isEmpty();

        now.addAndGet(3 * S);
        for (int i = 8193; i <= 12288; i++)
        {
            p.update(i, i * 50L, 1_228_800L);
        }
        p.finish();

        assertThat(err.toString()).isEqualTo("\rferry replay: 12288 frames, 3072 frames/s, 50%" + System.lineSeparator());
    }

    @Test
    void shouldPrintNothingWhenDisabled()
    {
        final AtomicLong now = new AtomicLong(0);
        final StringWriter err = new StringWriter();
        final Progress p = new Progress(new PrintWriter(err), now::get, false);
        now.set(60 * S);
        for (int i = 1; i <= 100_000; i++)
        {
            p.update(i, i, 100_000);
        }
        p.finish();
        assertThat(err.toString()).isEmpty();
    }

    @Test
    void replayKeepsStderrFreeOfProgressWhenItIsNotATerminal()
    {
        // under the test runner stderr is a pipe or file, never a terminal
        assertThat(Progress.stderrIsTerminal()).isFalse();
    }
}
