package dev.ferry.core;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class CachedClockTest
{
    @Test
    void shouldReturnTheTimeOfTheLastRefreshUntilTheNext()
    {
        final ManualClock source = new ManualClock(1_000);
        final CachedClock cached = new CachedClock(source);
        assertThat(cached.nanos()).isEqualTo(1_000);

        source.advance(500);
        assertThat(cached.nanos()).as("stages of one cycle see the cycle's time").isEqualTo(1_000);

        assertThat(cached.refresh()).isEqualTo(1_500);
        assertThat(cached.nanos()).isEqualTo(1_500);
    }
}
