package dev.ferry.agent;

import org.junit.jupiter.api.Test;
import java.nio.file.Path;

class ScratchTest
{
    @Test
    void print() throws Exception
    {
        final ClusterState s = ManifestLoader.load(Path.of("src/test/resources/two-node"), System.out::println);
        System.out.println(TablesText.render(NodeTablesCompiler.compile(s, "node-a", 1)));
        System.out.println(TablesText.render(NodeTablesCompiler.compile(s, "node-b", 1)));
    }
}
