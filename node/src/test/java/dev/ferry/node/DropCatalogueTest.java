package dev.ferry.node;

import dev.ferry.core.DropReason;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Keeps the drop-reason catalogue honest, as Cilium's {@code drop_reasons.h} is kept by review: ids unique and in
 * their module's range, retired ids never reused, a sentence for every reason, every enum on the classpath in the
 * table, and {@code docs/drop-reasons.md} generated from it. After changing a reason, regenerate the document
 * with {@code mvn -pl node -am verify -Dtest=DropCatalogueTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dferry.updateDocs=true}.
 */
class DropCatalogueTest
{
    private static final Path DOC = Path.of("../docs/drop-reasons.md");

    /** Two reasons of a made-up stage, for the checker's own tests. */
    private enum Fake implements DropReason
    {
        FIRST(7, "a made-up reason"),
        SECOND(7, " ");

        private final int id;
        private final String sentence;

        Fake(final int id, final String sentence)
        {
            this.id = id;
            this.sentence = sentence;
        }

        @Override
        public int id()
        {
            return id;
        }

        @Override
        public String sentence()
        {
            return sentence;
        }
    }

    @Test
    void shouldGiveEveryReasonAnIdOfItsModuleRangeOnceWithASentence()
    {
        assertThat(problems(DropCatalogue.entries(), DropCatalogue.RETIRED)).as("catalogue problems").isEmpty();
        assertThat(DropCatalogue.entries()).as("reasons").hasSizeGreaterThan(50);
    }

    @Test
    void shouldReportReusedRetiredOutOfRangeAndSilentReasons()
    {
        final List<DropCatalogue.Entry> entries = List.of(
            new DropCatalogue.Entry(Fake.FIRST, "stage/fake/drop/first", DropCatalogue.Range.NAT),
            new DropCatalogue.Entry(Fake.SECOND, "stage/fake/drop/second", DropCatalogue.Range.DATAPLANE_CORE));

        assertThat(problems(entries, Set.of(7))).containsExactly(
            "stage/fake/drop/first: id 7 is outside nat's range 100-199",
            "stage/fake/drop/first: id 7 is retired and may not be used again",
            "stage/fake/drop/second: id 7 is retired and may not be used again",
            "stage/fake/drop/second: id 7 already belongs to stage/fake/drop/first",
            "stage/fake/drop/second: no sentence");
    }

    @Test
    void shouldListEveryDropReasonEnumOfTheDataplaneModules() throws Exception
    {
        final Set<String> listed = new TreeSet<>();
        for (final DropCatalogue.Entry e : DropCatalogue.entries())
        {
            listed.add(((Enum<?>)e.reason()).getDeclaringClass().getName());
        }
        final Set<String> found = dropReasonEnums();
        assertThat(found).as("the scan sees core, nat, vxlan and node")
            .contains("dev.ferry.core.Graph$GraphDrop", "dev.ferry.nat.Nat44New$Drop",
                "dev.ferry.vxlan.VxlanDecap$Drop", "dev.ferry.node.NodeDrop");
        assertThat(listed).as("every DropReason enum on the classpath is in DropCatalogue").isEqualTo(found);
    }

    @Test
    void shouldMatchTheDocument() throws IOException
    {
        final String expected = markdown();
        if (Boolean.getBoolean("ferry.updateDocs"))
        {
            Files.writeString(DOC, expected, StandardCharsets.UTF_8);
        }
        assertThat(Files.readString(DOC, StandardCharsets.UTF_8))
            .as("docs/drop-reasons.md is generated from DropCatalogue; rerun this test with -Dferry.updateDocs=true")
            .isEqualTo(expected);
    }

    static List<String> problems(final List<DropCatalogue.Entry> entries, final Set<Integer> retired)
    {
        final List<String> out = new ArrayList<>();
        final Map<Integer, String> owner = new HashMap<>();
        for (final DropCatalogue.Entry e : entries)
        {
            final int id = e.reason().id();
            final DropCatalogue.Range r = e.range();
            if (!r.contains(id))
            {
                out.add(e.counter() + ": id " + id + " is outside " + r.module() + "'s range " + r.first() + "-"
                    + r.last());
            }
            if (retired.contains(id))
            {
                out.add(e.counter() + ": id " + id + " is retired and may not be used again");
            }
            final String first = owner.putIfAbsent(id, e.counter());
            if (first != null)
            {
                out.add(e.counter() + ": id " + id + " already belongs to " + first);
            }
            if (e.reason().sentence() == null || e.reason().sentence().isBlank())
            {
                out.add(e.counter() + ": no sentence");
            }
        }
        return out;
    }

    private static String markdown()
    {
        final StringBuilder sb = new StringBuilder();
        sb.append("# Drop reasons\n\n")
            .append("<!-- Generated from node/src/main/java/dev/ferry/node/DropCatalogue.java by DropCatalogueTest")
            .append(" (-Dferry.updateDocs=true); do not edit by hand. -->\n\n")
            .append("Every packet ferry drops is counted under one of these reasons, like Cilium's ")
            .append("`bpf/lib/drop_reasons.h`. An id is never reused: a removed reason's id is retired. ")
            .append("`ferry show stats`, `ferry show trace` and replay's reports print a drop as ")
            .append("`ID COUNTER-NAME: \"SENTENCE\"` (`DropReason.describe()`); Prometheus has ")
            .append("`ferry_stage_drops_total{stage,reason,reason_id}` and, for the sentence, ")
            .append("`ferry_drop_reason_info{reason_id,stage,reason,sentence}`.\n\n")
            .append("A new reason takes the next free id of its module's range and is added to `DropCatalogue`; ")
            .append("a removed reason's id goes to `DropCatalogue.RETIRED`. Then regenerate this file.\n\n")
            .append("## Id ranges\n\n| module | ids |\n|---|---|\n");
        for (final DropCatalogue.Range r : DropCatalogue.Range.values())
        {
            sb.append("| ").append(r.module()).append(" | ").append(r.first()).append('-').append(r.last())
                .append(" |\n");
        }
        sb.append("\n## Retired ids\n\n");
        sb.append(DropCatalogue.RETIRED.isEmpty() ? "None yet.\n"
            : String.join(", ", new TreeSet<>(DropCatalogue.RETIRED).stream().map(String::valueOf).toList()) + "\n");
        sb.append("\n## Reasons\n\n| id | counter | sentence |\n|---|---|---|\n");
        final List<DropCatalogue.Entry> byId = new ArrayList<>(DropCatalogue.entries());
        byId.sort((a, b) -> Integer.compare(a.reason().id(), b.reason().id()));
        for (final DropCatalogue.Entry e : byId)
        {
            sb.append("| ").append(e.reason().id()).append(" | `").append(e.counter()).append("` | ")
                .append(e.reason().sentence().replace("|", "\\|")).append(" |\n");
        }
        return sb.toString();
    }

    // every enum implementing DropReason in the main classes of the modules on the classpath (dirs or jars)
    private static Set<String> dropReasonEnums() throws Exception
    {
        final Set<String> out = new TreeSet<>();
        final ClassLoader loader = DropCatalogueTest.class.getClassLoader();
        final Enumeration<URL> roots = loader.getResources("dev/ferry");
        final Set<String> seen = new HashSet<>();
        for (final URL url : Collections.list(roots))
        {
            if (url.toString().contains("test-classes") || !seen.add(url.toString()))
            {
                continue;
            }
            final URI uri = url.toURI();
            if ("jar".equals(uri.getScheme()))
            {
                try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of()))
                {
                    scan(fs.getPath("/dev/ferry"), fs.getPath("/"), loader, out);
                }
            }
            else
            {
                final Path dir = Path.of(uri);
                scan(dir, dir.getParent().getParent(), loader, out);
            }
        }
        return out;
    }

    private static void scan(final Path dir, final Path root, final ClassLoader loader, final Set<String> out)
        throws IOException, ClassNotFoundException
    {
        final List<Path> classes;
        try (Stream<Path> files = Files.walk(dir))
        {
            classes = files.filter(p -> p.toString().endsWith(".class")).toList();
        }
        for (final Path p : classes)
        {
            final String rel = root.relativize(p).toString();
            final String name = rel.substring(0, rel.length() - ".class".length()).replace('/', '.');
            // not initialised: loading a class must not open sockets or native libraries
            final Class<?> c = Class.forName(name, false, loader);
            if (c.isEnum() && DropReason.class.isAssignableFrom(c))
            {
                out.add(c.getName());
            }
        }
    }
}
