package dev.ferry.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.tapio.Epoll;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The floor under issue 11's latency targets on this machine: how long a thread blocked in {@code epoll_wait}
 * takes to run again after another thread writes its eventfd (what a ferry worker pays for each frame that finds
 * it asleep: a pod's TAP write or a veth delivery into the AF_PACKET ring wakes it the same way, through
 * {@code sk_data_ready} / the fd's wait queue). Two threads, each blocked on its own {@link Epoll}, play
 * ping-pong; between rounds the initiator sleeps for the gap, so that both (and their CPUs) have been idle that
 * long, as a pod's pings 200 ms or 5 ms apart leave a node.
 *
 * <pre>
 *   java -cp benchmarks.jar dev.ferry.bench.WakeProbe [OUT.json]                 # the threads go where Linux puts them
 *   taskset -c 0 java -cp benchmarks.jar dev.ferry.bench.WakeProbe [OUT.json]    # one CPU: no cross-CPU wake-up
 * </pre>
 *
 * <p>Reported per gap: the one-way wake-up (the waker's clock before its {@code write} to the woken thread's
 * clock after {@code epoll_wait} returned) and the round trip (two wake-ups), p50 / p90 / p99 / max in µs. Not a
 * JMH benchmark: JMH times operations back to back, and the quantity here is the cost of the first event after
 * an idle gap.
 */
public final class WakeProbe
{
    private static final long[] GAPS_MICROS = {200_000, 5_000, 0};
    private static final int[] ROUNDS = {60, 400, 5_000};
    private static final int WARMUP_ROUNDS = 2_000;

    private final Epoll toEcho;
    private final Epoll toInitiator;
    private volatile long sentAt;
    private volatile long echoWokeAt;
    private volatile boolean stop;

    private WakeProbe() throws Exception
    {
        toEcho = new Epoll(4);
        toInitiator = new Epoll(4);
    }

    /**
     * @param args optional path of the JSON results file.
     * @throws Exception when epoll or the file fails.
     */
    public static void main(final String[] args) throws Exception
    {
        final WakeProbe probe = new WakeProbe();
        final Thread echo = new Thread(probe::echo, "ferry-wake-echo");
        echo.setDaemon(true);
        echo.start();
        final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        final ObjectNode root = json.createObjectNode();
        root.put("cpus", Runtime.getRuntime().availableProcessors());
        final ArrayNode results = root.putArray("gaps");
        probe.rounds(WARMUP_ROUNDS, 0, null, null);
        System.out.printf("%-10s %6s  %-38s %-38s%n", "gap", "rounds", "one-way wake-up µs p50/p90/p99/max",
            "round trip µs p50/p90/p99/max");
        for (int g = 0; g < GAPS_MICROS.length; g++)
        {
            final long[] oneWay = new long[ROUNDS[g]];
            final long[] roundTrip = new long[ROUNDS[g]];
            probe.rounds(ROUNDS[g], GAPS_MICROS[g], oneWay, roundTrip);
            final ObjectNode r = results.addObject();
            r.put("gap_us", GAPS_MICROS[g]);
            r.put("rounds", ROUNDS[g]);
            final String a = describe(oneWay, r.putObject("one_way_us"));
            final String b = describe(roundTrip, r.putObject("round_trip_us"));
            System.out.printf("%-10s %6d  %-38s %-38s%n", GAPS_MICROS[g] + " µs", ROUNDS[g], a, b);
        }
        probe.stop = true;
        probe.toEcho.wake();
        if (args.length > 0)
        {
            json.writeValue(Path.of(args[0]).toFile(), root);
            System.out.println("wrote " + args[0]);
        }
    }

    private void rounds(final int n, final long gapMicros, final long[] oneWay, final long[] roundTrip)
        throws IOException
    {
        for (int i = 0; i < n; i++)
        {
            if (gapMicros > 0)
            {
                LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(gapMicros));
            }
            final long t0 = System.nanoTime();
            sentAt = t0;
            toEcho.wake();
            while (toInitiator.await(1_000) == 0)
            {
                if (stop)
                {
                    return;
                }
            }
            final long t1 = System.nanoTime();
            if (oneWay != null)
            {
                oneWay[i] = echoWokeAt - t0;
                roundTrip[i] = t1 - t0;
            }
        }
    }

    private void echo()
    {
        while (!stop)
        {
            if (toEcho.await(1_000) == 0)
            {
                continue;
            }
            echoWokeAt = System.nanoTime();
            if (stop)
            {
                return;
            }
            // read sentAt so that the write above is ordered after the initiator's clock read
            if (sentAt != 0)
            {
                toInitiator.wake();
            }
        }
    }

    private static String describe(final long[] nanos, final ObjectNode into)
    {
        final long[] s = nanos.clone();
        Arrays.sort(s);
        final double p50 = s[s.length / 2] / 1e3;
        final double p90 = s[(int)(s.length * 0.9)] / 1e3;
        final double p99 = s[Math.min(s.length - 1, (int)(s.length * 0.99))] / 1e3;
        final double max = s[s.length - 1] / 1e3;
        into.put("p50", p50);
        into.put("p90", p90);
        into.put("p99", p99);
        into.put("max", max);
        return String.format("%.1f / %.1f / %.1f / %.1f", p50, p90, p99, max);
    }
}
