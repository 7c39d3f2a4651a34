package dev.ferry.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

class LabStateTest
{
    @TempDir
    Path dir;

    @Test
    void shouldStartEachLabWithEmptyLogsAndKeepTheLastLabsAside() throws IOException
    {
        final LabState state = new LabState(dir);
        Files.writeString(dir.resolve("node1.log"), "old node1\n");
        Files.createDirectories(dir.resolve("logs"));
        Files.writeString(dir.resolve("logs/p21-sink.log"), "ready\n");
        Files.writeString(dir.resolve("pids"), "1 2 x\n");

        state.rotateLogs();

        assertThat(dir.resolve("node1.log")).doesNotExist();
        assertThat(dir.resolve("logs")).doesNotExist();
        assertThat(dir.resolve("previous/node1.log")).hasContent("old node1");
        assertThat(dir.resolve("previous/logs/p21-sink.log")).hasContent("ready");
        assertThat(dir.resolve("pids")).as("not a log").exists();

        Files.writeString(dir.resolve("node2.log"), "newer\n");
        state.rotateLogs();
        assertThat(dir.resolve("previous/node2.log")).hasContent("newer");
        assertThat(dir.resolve("previous/node1.log")).as("only the last lab's are kept").doesNotExist();
    }

    @Test
    void shouldDoNothingWithoutAStateDirectory() throws IOException
    {
        new LabState(dir.resolve("none")).rotateLogs();
        assertThat(dir.resolve("none")).doesNotExist();
    }
}
