package dev.ferry.tapio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import static org.assertj.core.api.Assertions.assertThat;

class PcapPropertyTest
{
    record Rec(long nanos, byte[] frame)
    {
    }

    @Provide
    Arbitrary<Rec> records()
    {
        final Arbitrary<Long> nanos = Arbitraries.longs().between(0L, Integer.MAX_VALUE * 1_000_000_000L + 999_999_999L);
        final Arbitrary<byte[]> frames = Arbitraries.bytes().array(byte[].class).ofMinSize(14).ofMaxSize(1600);
        return Combinators.combine(nanos, frames).as(Rec::new);
    }

    @Property(tries = 60)
    void shouldRoundTripRandomFramesAndTimestamps(@ForAll @Size(max = 30) final List<@From("records") Rec> recs,
        @ForAll final PcapWriter.Precision precision) throws IOException
    {
        final Path file = Files.createTempFile("ferry-tio-prop", ".pcap");
        try
        {
            try (PcapWriter out = PcapWriter.create(file, precision))
            {
                for (final Rec r : recs)
                {
                    out.write(r.nanos(), r.frame());
                }
            }
            final List<TestFiles.Rec> back = TestFiles.readAll(file);
            assertThat(back).hasSize(recs.size());
            for (int i = 0; i < recs.size(); i++)
            {
                final long expected = precision == PcapWriter.Precision.NANO ? recs.get(i).nanos() :
                    recs.get(i).nanos() / 1000 * 1000;
                assertThat(back.get(i).nanos()).as("timestamp %d", i).isEqualTo(expected);
                assertThat(back.get(i).frame()).as("frame %d", i).isEqualTo(recs.get(i).frame());
            }
        }
        finally
        {
            Files.deleteIfExists(file);
        }
    }
}
