package dev.ferry.cli.replay;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link LongIndex} answers as a map whose first put of a key wins, for keys that collide or not. */
class LongIndexTest
{
    @Property
    void shouldAnswerAsAMapWhoseFirstPutWins(@ForAll @Size(max = 200) final List<Long> keys,
        @ForAll @Size(max = 50) final List<Long> probes)
    {
        final LongIndex index = new LongIndex(keys.size());
        final Map<Long, Integer> model = new HashMap<>();
        for (int i = 0; i < keys.size(); i++)
        {
            index.putIfAbsent(keys.get(i), i);
            model.putIfAbsent(keys.get(i), i);
        }
        for (final long k : keys)
        {
            assertThat(index.get(k)).isEqualTo(model.get(k));
        }
        for (final long k : probes)
        {
            assertThat(index.get(k)).isEqualTo(model.getOrDefault(k, LongIndex.NONE));
        }
    }
}
