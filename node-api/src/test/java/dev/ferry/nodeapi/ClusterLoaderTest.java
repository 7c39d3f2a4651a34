package dev.ferry.nodeapi;

import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterLoaderTest
{
    /** Registered twice below, under two names, to make two providers. */
    public static final class First implements ClusterLoader
    {
        @Override
        public NodeTables load(final Path clusterDir, final String nodeName)
        {
            return TablesFixture.basic(1);
        }
    }

    /** The second provider. */
    public static final class Second implements ClusterLoader
    {
        @Override
        public NodeTables load(final Path clusterDir, final String nodeName)
        {
            return TablesFixture.basic(2);
        }
    }

    @Test
    void shouldRefuseWhenNoProviderIsOnTheClassPath()
    {
        assertThatThrownBy(() -> ClusterLoader.only(ServiceLoader.load(ClusterLoader.class)))
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("no ClusterLoader on the class path");
    }

    @Test
    void shouldRefuseTwoProvidersNamingBoth(@TempDir final Path dir) throws Exception
    {
        try (URLClassLoader loader = providers(dir, First.class, Second.class))
        {
            assertThatThrownBy(() -> ClusterLoader.only(ServiceLoader.load(ClusterLoader.class, loader)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("2 ClusterLoader providers")
                .hasMessageContaining(First.class.getName())
                .hasMessageContaining(Second.class.getName());
        }
    }

    @Test
    void shouldReturnTheOneProvider(@TempDir final Path dir) throws Exception
    {
        try (URLClassLoader loader = providers(dir, Second.class))
        {
            assertThat(ClusterLoader.only(ServiceLoader.load(ClusterLoader.class, loader)))
                .isInstanceOf(Second.class);
        }
    }

    @Test
    void shouldPreferTheNodesOwnTablesFile(@TempDir final Path dir) throws Exception
    {
        assertThat(ClusterLoader.hasJsonFile(dir, "node-a")).isFalse();
        assertThatThrownBy(() -> ClusterLoader.jsonFile().load(dir, "node-a"))
            .hasMessageContaining("no node-a.tables.json or tables.json in " + dir);

        Files.writeString(dir.resolve("tables.json"), NodeTablesJson.encode(TablesFixture.basic(3)).toString());
        assertThat(ClusterLoader.hasJsonFile(dir, "node-a")).isTrue();
        assertThat(ClusterLoader.jsonFile().load(dir, "node-a").generation()).isEqualTo(3);

        Files.writeString(dir.resolve("node-a.tables.json"), NodeTablesJson.encode(TablesFixture.basic(4)).toString());
        assertThat(ClusterLoader.jsonFile().load(dir, "node-a").generation()).isEqualTo(4);
    }

    /** A class loader over the test classes that adds a services file naming the given providers. */
    private static URLClassLoader providers(final Path dir, final Class<?>... types) throws Exception
    {
        final Path services = Files.createDirectories(dir.resolve("META-INF/services"));
        final StringBuilder lines = new StringBuilder();
        for (final Class<?> t : types)
        {
            lines.append(t.getName()).append('\n');
        }
        Files.writeString(services.resolve(ClusterLoader.class.getName()), lines);
        return new URLClassLoader(new URL[] {dir.toUri().toURL()}, ClusterLoaderTest.class.getClassLoader());
    }
}
