package dev.ferry.cni;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Commands and errors that need no root, run in-process and (for the spec's contract) as a process. */
class CniPluginTest
{
    private static final String CONF = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\","
        + "\"socket\":\"/nonexistent/ferry.sock\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.244.1.0/24\"}}";

    private record Out(int exit, String stdout)
    {
    }

    private static Out run(final Map<String, String> env, final String stdin)
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final int exit = CniPlugin.run(env, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
            new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Out(exit, out.toString(StandardCharsets.UTF_8).strip());
    }

    private static Map<String, String> env(final String command)
    {
        final Map<String, String> e = new HashMap<>();
        e.put("CNI_COMMAND", command);
        e.put("CNI_CONTAINERID", "c1");
        e.put("CNI_NETNS", "/nonexistent/netns");
        e.put("CNI_IFNAME", "eth0");
        e.put("CNI_PATH", "/nonexistent");
        return e;
    }

    @Test
    void shouldAnswerVersionWithEverySupportedVersion()
    {
        final Out o = run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"0.4.0\"}");
        assertThat(o.exit()).isZero();
        assertThat(o.stdout()).isEqualTo("{\"cniVersion\":\"1.1.0\",\"supportedVersions\":"
            + "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}");
    }

    @Test
    void shouldPrintSpecErrorsWithCodeMsgAndDetails()
    {
        assertThat(run(env("ADD"), "{bad").stdout()).startsWith("{\"cniVersion\":\"1.1.0\",\"code\":6,"
            + "\"msg\":\"failed to decode content\",\"details\":\"network configuration is not valid JSON");
        assertThat(run(env("ADD"), CONF.replace("1.0.0", "9.9.9")).stdout()).startsWith(
            "{\"cniVersion\":\"1.1.0\",\"code\":1,\"msg\":\"incompatible CNI version\"");
        final Map<String, String> noIf = env("ADD");
        noIf.remove("CNI_IFNAME");
        final Out missing = run(noIf, CONF);
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.stdout()).isEqualTo("{\"cniVersion\":\"1.0.0\",\"code\":4,\"msg\":\"invalid necessary "
            + "environment variables\",\"details\":\"CNI_IFNAME is not set\"}");
        final Out netns = run(env("ADD"), CONF);
        assertThat(netns.stdout()).contains("\"code\":4").contains("CNI_NETNS: /nonexistent/netns does not exist");
        assertThat(run(env("CHECK"), CONF.replace("1.0.0", "0.3.1")).stdout())
            .contains("\"cniVersion\":\"0.3.1\",\"code\":1").contains("CHECK needs cniVersion 0.4.0");
        assertThat(run(env("GC"), CONF).stdout()).contains("\"code\":1").contains("GC needs cniVersion 1.1.0");
    }

    @Test
    void shouldRefuseAConfigurationLongerThanTheStdinBound()
    {
        final String huge = CONF.replace("\"name\":\"n\"", "\"name\":\"n\",\"pad\":\""
            + "x".repeat(CniPlugin.MAX_STDIN) + "\"");
        final Out o = run(env("ADD"), huge);
        assertThat(o.exit()).isEqualTo(1);
        assertThat(o.stdout()).isEqualTo("{\"cniVersion\":\"1.1.0\",\"code\":7,\"msg\":\"invalid network config\","
            + "\"details\":\"the network configuration on stdin is longer than 1048576 bytes\"}");
        assertThat(run(env("ADD"), CONF.replace("\"name\":\"n\"", "\"name\":\"n\",\"pad\":\""
            + "x".repeat(CniPlugin.MAX_STDIN - CONF.length() - 20) + "\"")).stdout())
            .as("a configuration within the bound is read").doesNotContain("longer than");
    }

    @Test
    void shouldReportNotAvailableWhenTheNodeIsNotRunning()
    {
        final Map<String, String> e = env("STATUS");
        e.put("CNI_PATH", "/bin");
        final Out o = run(e, CONF.replace("1.0.0", "1.1.0").replace("host-local", "true"));
        assertThat(o.exit()).isEqualTo(1);
        assertThat(o.stdout()).contains("\"code\":50,\"msg\":\"plugin not available\"")
            .contains("no socket at /nonexistent/ferry.sock");
    }

    @Test
    void shouldExitNonZeroWithErrorJsonAsAProcess()
    {
        final PluginProcess.Run r = PluginProcess.run(env("ADD"), "not json");
        assertThat(r.exit()).isNotZero();
        assertThat(r.json()).containsEntry("code", 6).containsEntry("msg", "failed to decode content");
        final PluginProcess.Run v = PluginProcess.run(Map.of("CNI_COMMAND", "VERSION"), "");
        assertThat(v.exit()).isZero();
        assertThat(v.json()).containsEntry("cniVersion", "1.1.0");
    }
}
