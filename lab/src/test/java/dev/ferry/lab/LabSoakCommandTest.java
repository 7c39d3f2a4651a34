package dev.ferry.lab;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

class LabSoakCommandTest
{
    @Test
    void shouldOfferSoakWithItsBoundsBeforeTouchingAnyNamespace()
    {
        final StringWriter out = new StringWriter();
        final CommandLine cl = new CommandLine(new LabCommand()).setOut(new PrintWriter(out));

        assertThat(cl.execute("soak", "--help")).isZero();
        assertThat(out.toString()).contains("--duration").contains("--hostile-rate").contains("--churn-every")
            .contains("default 10m");
        // out-of-bounds options are refused (exit 2) before the lab is looked at or built
        assertThat(cl.execute("soak", "--duration", "0s")).isEqualTo(2);
        assertThat(cl.execute("soak", "--duration", "25h")).isEqualTo(2);
        assertThat(cl.execute("soak", "--hostile-rate", "-1")).isEqualTo(2);
    }
}
