package dev.ferry.cni;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 13: DEL deletes {@code CNI_IFNAME} in {@code CNI_NETNS} only when ferry recorded that
 * attachment (no root: the interface deletion is observed, IPAM is {@code /bin/true}, the node is down).
 */
class DelCommandTest
{
    @TempDir
    Path dir;

    private final List<String> deleted = new ArrayList<>();
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    private NetConf conf()
    {
        return NetConf.parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\",\"socket\":\""
            + dir.resolve("none.sock") + "\",\"stateDir\":\"" + dir.resolve("state") + "\",\"ipam\":{\"type\":"
            + "\"true\",\"subnet\":\"10.244.1.0/24\"}}");
    }

    private CniEnv env(final Path netns)
    {
        return CniEnv.from(Map.of("CNI_COMMAND", "DEL", "CNI_CONTAINERID", "c1", "CNI_NETNS", netns.toString(),
            "CNI_IFNAME", "eth0", "CNI_PATH", "/bin"));
    }

    private void del(final NetConf conf, final Path netns)
    {
        DelCommand.run(conf, env(netns), new PrintStream(log, true, StandardCharsets.UTF_8), (ns, ifName) ->
        {
            deleted.add(ns + " " + ifName);
            return true;
        });
    }

    @Test
    void shouldLeaveTheInterfaceAloneWithoutARecord() throws Exception
    {
        final Path netns = Files.createFile(dir.resolve("netns-x"));

        del(conf(), netns);

        assertThat(deleted).as("interfaces deleted").isEmpty();
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("no record of c1/eth0")
            .contains("left alone");
    }

    @Test
    void shouldDeleteTheInterfaceItRecordedAndForgetIt() throws Exception
    {
        final Path netns = Files.createFile(dir.resolve("netns-x"));
        final NetConf conf = conf();
        final AttachmentStore store = new AttachmentStore(conf);
        store.write(new AttachmentStore.Record("c1", "eth0", netns.toString(), "tap0af40102", "10.244.1.2"));

        del(conf, netns);

        assertThat(deleted).containsExactly(netns + " eth0");
        assertThat(store.read("c1", "eth0")).as("the record after DEL").isNull();
        del(conf, netns);
        assertThat(deleted).as("a repeated DEL touches nothing more").hasSize(1);
    }

    @Test
    void shouldLeaveAnInterfaceInAnotherNamespaceThanTheRecordedOne() throws Exception
    {
        final Path netns = Files.createFile(dir.resolve("netns-x"));
        final NetConf conf = conf();
        new AttachmentStore(conf).write(new AttachmentStore.Record("c1", "eth0", dir.resolve("netns-old").toString(),
            "tap0af40102", "10.244.1.2"));

        del(conf, netns);

        assertThat(deleted).isEmpty();
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("was attached in " + dir.resolve("netns-old"));
    }
}
