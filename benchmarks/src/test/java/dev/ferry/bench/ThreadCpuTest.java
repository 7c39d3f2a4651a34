package dev.ferry.bench;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The CPU the benchmarks print per iteration: read from the kernel, and it follows a pin. */
class ThreadCpuTest
{
    @Test
    void shouldReadTheCpuOfTheCallingThread()
    {
        assertThat(ThreadCpu.current()).isBetween(0, Runtime.getRuntime().availableProcessors() - 1);
    }

    @Test
    void shouldReportEachRecordedIterationAndFollowAPin() throws InterruptedException
    {
        final int last = Runtime.getRuntime().availableProcessors() - 1;
        final AtomicReference<String> report = new AtomicReference<>();
        // a thread of its own: a pin lasts for the thread's life
        final Thread t = new Thread(() ->
        {
            final ThreadCpu cpus = new ThreadCpu(2);
            final boolean pinned = ThreadCpu.pin(last);
            cpus.record();
            cpus.record();
            cpus.record();
            report.set(pinned + ": " + cpus.report());
        });
        t.start();
        t.join();
        assertThat(report.get()).as("two iterations kept of three").isEqualTo("true: " + last + " " + last);
    }
}
