package dev.ferry.core.workers;

import dev.ferry.core.PacketVector;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class OwnerSortTest
{
    private static final int ME = 1;

    @Property(tries = 300)
    void shouldSplitAVectorByOwnerKeepingArrivalOrderInEachRun(@ForAll("owners") final List<Integer> owners)
    {
        final OwnerSort sort = new OwnerSort(ME);
        // a dirty previous vector: clear() must forget it
        for (int i = 0; i < PacketVector.CAPACITY; i++)
        {
            sort.add(10_000 + i, i % 3);
        }
        sort.clear();
        final List<Integer> mine = new ArrayList<>();
        final List<Integer> others = new ArrayList<>();
        final List<Integer> othersOwners = new ArrayList<>();
        for (int i = 0; i < owners.size(); i++)
        {
            final int handle = 100 + i;
            sort.add(handle, owners.get(i));
            if (owners.get(i) == ME)
            {
                mine.add(handle);
            }
            else
            {
                others.add(handle);
                othersOwners.add(owners.get(i));
            }
        }

        assertThat(sort.own() + sort.away()).isEqualTo(owners.size());
        final List<Integer> gotMine = new ArrayList<>();
        for (int i = 0; i < sort.own(); i++)
        {
            gotMine.add(sort.ownHandle(i));
        }
        final List<Integer> gotOthers = new ArrayList<>();
        final List<Integer> gotOwners = new ArrayList<>();
        for (int i = 0; i < sort.away(); i++)
        {
            gotOthers.add(sort.awayHandle(i));
            gotOwners.add(sort.awayOwner(i));
        }
        assertThat(gotMine).isEqualTo(mine);
        assertThat(gotOthers).isEqualTo(others);
        assertThat(gotOwners).isEqualTo(othersOwners);
    }

    @Test
    void shouldHoldAWholeVectorOnEitherSide()
    {
        final OwnerSort sort = new OwnerSort(0);
        for (int i = 0; i < PacketVector.CAPACITY; i++)
        {
            sort.add(i, 0);
        }
        assertThat(sort.own()).isEqualTo(PacketVector.CAPACITY);
        assertThat(sort.ownHandle(PacketVector.CAPACITY - 1)).isEqualTo(PacketVector.CAPACITY - 1);
        sort.clear();
        for (int i = 0; i < PacketVector.CAPACITY; i++)
        {
            sort.add(i, 5);
        }
        assertThat(sort.own()).isZero();
        assertThat(sort.away()).isEqualTo(PacketVector.CAPACITY);
        assertThat(sort.awayHandle(PacketVector.CAPACITY - 1)).isEqualTo(PacketVector.CAPACITY - 1);
        assertThat(sort.awayOwner(0)).isEqualTo(5);
    }

    @Provide
    Arbitrary<List<Integer>> owners()
    {
        return Arbitraries.integers().between(0, 3).list().ofMaxSize(PacketVector.CAPACITY);
    }
}
