package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MemoryPortTest
{
    private final PacketPool pool = new PacketPool(300);
    private final Counters counters = Counters.inMemory(64);
    private final PacketVector v = new PacketVector();

    @AfterEach
    void poolIsFullAgain()
    {
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    @Test
    void shouldReceiveQueuedFramesAVectorAtATime()
    {
        final MemoryPort port = new MemoryPort("mem0", 2, pool, counters);
        for (int i = 0; i < 260; i++)
        {
            port.enqueue(1000L + i, TestFiles.udpFrame(i));
        }
        assertThat(port.receive(v)).isEqualTo(256);
        assertThat(pool.toArray(v.get(10))).isEqualTo(TestFiles.udpFrame(10));
        assertThat(pool.rxPort(v.get(10))).isEqualTo(2);
        assertThat(pool.timestamp(v.get(10))).isEqualTo(1010L);
        PcapRoundTripTest.freeAll(pool, v);
        assertThat(port.receive(v)).isEqualTo(4);
        PcapRoundTripTest.freeAll(pool, v);
        assertThat(port.receive(v)).isZero();
        assertThat(port.pendingReceive()).isZero();
        assertThat(counters.get("port/mem0/rx-packets")).isEqualTo(260);
    }

    @Test
    void shouldKeepFramesQueuedWhenThePoolIsEmpty()
    {
        final MemoryPort port = new MemoryPort("mem0", 0, pool, counters);
        final int[] held = new int[pool.capacity() - 1];
        for (int i = 0; i < held.length; i++)
        {
            held[i] = pool.allocate();
        }
        port.enqueue(TestFiles.udpFrame(1)).enqueue(TestFiles.udpFrame(2));
        assertThat(port.receive(v)).isEqualTo(1);
        assertThat(counters.get("port/mem0/rx-no-buffer")).isEqualTo(1);
        assertThat(port.pendingReceive()).isEqualTo(1);
        for (final int h : held)
        {
            pool.free(h);
        }
        PcapRoundTripTest.freeAll(pool, v);
        assertThat(port.receive(v)).isEqualTo(1);
        assertThat(pool.toArray(v.get(0))).isEqualTo(TestFiles.udpFrame(2));
        PcapRoundTripTest.freeAll(pool, v);
    }

    @Test
    void shouldRecordTransmittedCopiesAndFreeTheBuffers()
    {
        final MemoryPort port = new MemoryPort("mem1", 1, pool, counters);
        for (int i = 0; i < 3; i++)
        {
            final int h = pool.allocate();
            final byte[] f = TestFiles.udpFrame(i);
            pool.write(h, f, 0, f.length);
            pool.timestamp(h, 77L + i);
            pool.txPort(h, 1);
            port.transmit(h);
        }
        assertThat(port.transmitted()).hasSize(3);
        final MemoryPort.Frame f = port.drainTransmitted().get(2);
        assertThat(f.bytes()).isEqualTo(TestFiles.udpFrame(2));
        assertThat(f.epochNanos()).isEqualTo(79L);
        assertThat(f.port()).isEqualTo(1);
        assertThat(port.transmitted()).isEmpty();
        assertThat(counters.get("port/mem1/tx-packets")).isEqualTo(3);
        assertThat(counters.get("port/mem1/tx-bytes")).isEqualTo(TestFiles.udpFrame(0).length
            + TestFiles.udpFrame(1).length + TestFiles.udpFrame(2).length);
    }

    @Test
    void shouldLoopInRepeatModeAndOnlyCountWhenNotKeeping()
    {
        final MemoryPort port = new MemoryPort("bench", 0, pool, counters).repeat(true).keepTransmitted(false);
        port.enqueue(5L, TestFiles.udpFrame(0)).enqueue(6L, TestFiles.udpFrame(1)).enqueue(7L, TestFiles.udpFrame(2));
        for (int round = 0; round < 3; round++)
        {
            assertThat(port.receive(v)).isEqualTo(256);
            assertThat(pool.toArray(v.get(255))).isEqualTo(TestFiles.udpFrame((round * 256 + 255) % 3));
            for (int i = 0; i < v.count(); i++)
            {
                port.transmit(v.get(i));
            }
            v.clear();
        }
        assertThat(port.pendingReceive()).isEqualTo(3);
        assertThat(port.transmitted()).isEmpty();
        assertThat(port.txPackets()).isEqualTo(768);
        assertThat(port.rxPackets()).isEqualTo(768);
    }

    @Test
    void shouldRefuseFramesLargerThanABuffer()
    {
        final MemoryPort port = new MemoryPort("mem0", 0, pool, counters);
        assertThatThrownBy(() -> port.enqueue(new byte[pool.bufferSize()]))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not fit a buffer");
    }
}
