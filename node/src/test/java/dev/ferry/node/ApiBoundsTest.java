package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 10: an API client cannot stall forwarding on a shared thread, nor hold the API. A request line
 * is bounded, a partial request times out, and meanwhile frames are forwarded and other clients are answered.
 */
class ApiBoundsTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(ThreadingMode.class)
    void shouldRefuseAHugeUnterminatedLineWhileForwardingAndServingOthers(final ThreadingMode threading) throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, threading, NodeFixture.basic(1));
            NodeApiClient other = NodeApiClient.connect(node.socket());
            SocketChannel hostile = SocketChannel.open(UnixDomainSocketAddress.of(node.socket())))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            final AtomicLong written = new AtomicLong();
            // 60 MiB without a newline, as fast as the node takes it
            final byte[] chunk = new byte[1 << 20];
            Arrays.fill(chunk, (byte)'x');
            chunk[0] = '{';
            final Thread writer = writeUntilClosed(hostile, chunk, 60, written, "hostile-api-client");

            int sent = forwardWhileAlive(writer, a, b, other, "while a client sends a huge line");
            writer.join(TIMEOUT.toMillis());
            assertThat(writer.isAlive()).as("the node stopped taking the huge line").isFalse();
            assertThat(written.get()).as("bytes taken before the node refused")
                .isLessThan(60L << 20).isGreaterThanOrEqualTo(ApiAgent.MAX_REQUEST);

            final String reply = readToEnd(hostile);
            assertThat(reply).as("the refused client is told why, then closed")
                .contains("\"ok\":false").contains("request longer than " + ApiAgent.MAX_REQUEST + " bytes");

            a.enqueue(NodeFixture.udp(POD_A, POD_B, sent++));
            final int want = sent;
            NodeFixture.await("forwarding after the refusal", () -> b.txPackets() == want, TIMEOUT);
            try (NodeApiClient fresh = NodeApiClient.connect(node.socket()))
            {
                final JsonNode health = fresh.health();
                assertThat(health.path("ok").asBoolean()).as("a new client is served").isTrue();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ThreadingMode.class)
    void shouldCloseAClientThatHoldsAPartialRequest(final ThreadingMode threading) throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, threading, NodeFixture.basic(1));
            NodeApiClient other = NodeApiClient.connect(node.socket());
            SocketChannel slow = SocketChannel.open(UnixDomainSocketAddress.of(node.socket())))
        {
            node.daemon.apiAgent().clientTimeout(Duration.ofMillis(300));
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            slow.write(ByteBuffer.wrap("{\"v\":1,\"op\":".getBytes(StandardCharsets.UTF_8)));

            // traffic keeps the shared thread busy; the reply to the slow client arrives meanwhile
            a.enqueue(NodeFixture.udp(POD_A, POD_B, 0));
            NodeFixture.await("a frame forwarded", () -> b.txPackets() == 1, TIMEOUT);
            assertThat(other.health().path("ok").asBoolean()).isTrue();
            final String reply = readToEnd(slow);
            assertThat(reply).as("the slow client is told why, then closed")
                .contains("\"ok\":false").contains("request not completed within 300 ms");
            assertThat(other.health().path("ok").asBoolean()).as("the other client is still served").isTrue();
        }
    }

    @ParameterizedTest
    @EnumSource(ThreadingMode.class)
    void shouldCloseAClientThatDoesNotReadItsAnswers(final ThreadingMode threading) throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, threading, NodeFixture.basic(1));
            NodeApiClient other = NodeApiClient.connect(node.socket());
            SocketChannel deaf = SocketChannel.open(UnixDomainSocketAddress.of(node.socket())))
        {
            node.daemon.apiAgent().clientTimeout(Duration.ofMillis(300));
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            final AtomicLong written = new AtomicLong();
            // requests as fast as the node takes them, and never a read: the answers pile up
            final byte[] line = "{\"v\":1,\"op\":\"show\",\"what\":\"routes\"}\n".getBytes(StandardCharsets.UTF_8);
            final Thread writer = writeUntilClosed(deaf, line, 1_000_000, written, "deaf-api-client");

            forwardWhileAlive(writer, a, b, other, "while a client does not read");
            writer.join(TIMEOUT.toMillis());
            assertThat(writer.isAlive()).as("the node closed the client that does not read").isFalse();
            assertThat(written.get()).as("bytes of requests taken before the node gave up")
                .isLessThan(1_000_000L * line.length);
        }
    }

    /**
     * Writes {@code data} {@code times} times on a thread of its own, as fast as the node takes it, adding the bytes
     * written to {@code written}; the thread ends when all is written or the node closes the connection.
     */
    private static Thread writeUntilClosed(final SocketChannel ch, final byte[] data, final int times,
        final AtomicLong written, final String name)
    {
        final Thread writer = new Thread(() ->
        {
            try
            {
                for (int i = 0; i < times; i++)
                {
                    final ByteBuffer buf = ByteBuffer.wrap(data);
                    while (buf.hasRemaining())
                    {
                        written.addAndGet(ch.write(buf));
                    }
                }
            }
            catch (final IOException e)
            {
                // the node closed the connection: expected
            }
        }, name);
        writer.start();
        return writer;
    }

    /**
     * Forwards frames a → b, 50 at a time, each batch awaited and followed by another client's health request,
     * while {@code writer} runs (at most 20,000 frames).
     *
     * @return the frames sent.
     */
    private static int forwardWhileAlive(final Thread writer, final MemoryPortView a, final MemoryPortView b,
        final NodeApiClient other, final String what) throws Exception
    {
        int sent = 0;
        while (writer.isAlive() && sent < 20_000)
        {
            for (int i = 0; i < 50; i++)
            {
                a.enqueue(NodeFixture.udp(POD_A, POD_B, sent++));
            }
            final int want = sent;
            NodeFixture.await(want + " frames forwarded " + what, () -> b.txPackets() == want, TIMEOUT);
            assertThat(other.health().path("ok").asBoolean()).as("another client is served").isTrue();
        }
        return sent;
    }

    /** Reads until the node closes the connection, or fails after the test's timeout. */
    private static String readToEnd(final SocketChannel ch) throws IOException, InterruptedException
    {
        ch.configureBlocking(false);
        final ByteBuffer buf = ByteBuffer.allocate(4096);
        final StringBuilder sb = new StringBuilder();
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (System.nanoTime() < deadline)
        {
            buf.clear();
            final int n;
            try
            {
                n = ch.read(buf);
            }
            catch (final IOException e)
            {
                return sb.toString();
            }
            if (n < 0)
            {
                return sb.toString();
            }
            if (n == 0)
            {
                Thread.sleep(5);
                continue;
            }
            sb.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
        }
        throw new AssertionError("the node did not close the connection; read: " + sb);
    }
}
