import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The skip summary that {@code ./test} prints after {@code mvn verify}: reads every module's
 * {@code target/surefire-reports/TEST-*.xml} and counts the skipped tests by their stated reason (the assumption
 * message), so that no test skips silently.
 *
 * <pre>
 * java .ci/Skips.java [--strict] [REPO_DIR]
 *   --strict  any skipped test fails (CI: root, every tool installed, so nothing may skip)
 * </pre>
 *
 * Exit 1 when a skipped test states no reason, or under --strict when any test skipped; else 0. Run with the
 * JDK's single-file source launcher: no build, no dependency beyond the JDK that the tests need anyway.
 */
final class Skips
{
    private static final String NO_REASON = "(no reason given)";
    private static final String NO_TEST = "(no reason given: the class ran no test; an assumption in @BeforeAll "
        + "hides the reason, assume in @BeforeEach)";

    private Skips()
    {
    }

    /** One skipped test. */
    record Skip(String module, String className, String test, String reason)
    {
    }

    public static void main(final String[] args) throws Exception
    {
        boolean strict = false;
        Path root = Path.of(".");
        for (int i = 0; i < args.length; i++)
        {
            switch (args[i])
            {
                case "--strict" -> strict = true;
                default -> root = Path.of(args[i]);
            }
        }
        final DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        final DocumentBuilder parser = factory.newDocumentBuilder();
        final List<Skip> skips = new ArrayList<>();
        int tests = 0;
        int reports = 0;
        for (final Path report : reports(root))
        {
            reports++;
            final String module = root.relativize(report).getName(0).toString();
            final Element suite = parser.parse(report.toFile()).getDocumentElement();
            final NodeList cases = suite.getElementsByTagName("testcase");
            if (cases.getLength() == 0)
            {
                // surefire reports a class aborted in @BeforeAll as zero tests, not as skipped ones
                final String cls = suite.getAttribute("name");
                skips.add(new Skip(module, cls.substring(cls.lastIndexOf('.') + 1), "(class)", NO_TEST));
            }
            for (int i = 0; i < cases.getLength(); i++)
            {
                tests++;
                final Element c = (Element)cases.item(i);
                final NodeList skipped = c.getElementsByTagName("skipped");
                if (skipped.getLength() > 0)
                {
                    final String cls = c.getAttribute("classname");
                    skips.add(new Skip(module, cls.substring(cls.lastIndexOf('.') + 1), c.getAttribute("name"),
                        reason((Element)skipped.item(0))));
                }
            }
        }
        if (reports == 0)
        {
            System.out.println("Skip summary: no test reports from this run (were the tests skipped?)");
            System.exit(strict ? 1 : 0);
        }
        System.out.println("Skip summary: " + tests + " tests, " + skips.size() + " skipped");
        final Map<String, List<Skip>> byReason = new TreeMap<>();
        for (final Skip s : skips)
        {
            byReason.computeIfAbsent(s.reason(), r -> new ArrayList<>()).add(s);
        }
        for (final Map.Entry<String, List<Skip>> e : byReason.entrySet())
        {
            System.out.printf("%5d  %s%n", e.getValue().size(), e.getKey());
            System.out.println("       in " + classes(e.getValue()));
        }
        boolean fail = false;
        if (byReason.containsKey(NO_REASON) || byReason.containsKey(NO_TEST))
        {
            System.out.println("FAIL: every skip must state its reason (the assumption's message)");
            fail = true;
        }
        if (strict && !skips.isEmpty())
        {
            System.out.println("FAIL: in CI (CI=true, root) nothing may be skipped; skipped:");
            skips.forEach(s -> System.out.println("  " + s.module() + " " + s.className() + "." + s.test() + ": "
                + s.reason()));
            fail = true;
        }
        System.exit(fail ? 1 : 0);
    }

    private static List<Path> reports(final Path root) throws Exception
    {
        final List<Path> out = new ArrayList<>();
        try (Stream<Path> modules = Files.list(root))
        {
            for (final Path m : modules.sorted().toList())
            {
                final Path dir = m.resolve("target/surefire-reports");
                if (!Files.isDirectory(dir))
                {
                    continue;
                }
                try (Stream<Path> files = Files.list(dir))
                {
                    for (final Path f : files.sorted().toList())
                    {
                        final String name = f.getFileName().toString();
                        if (name.startsWith("TEST-") && name.endsWith(".xml"))
                        {
                            out.add(f);
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * The message attribute, or (surefire with trimStackTrace=false) the first line of the stack trace, after
     * the exception's class name; JUnit prefixes assumption messages, and its default text says nothing.
     */
    private static String reason(final Element skipped)
    {
        String m = skipped.getAttribute("message");
        if (m.isBlank())
        {
            m = skipped.getTextContent().strip().lines().findFirst().orElse("");
            final String type = skipped.getAttribute("type");
            if (!type.isEmpty() && m.startsWith(type + ":"))
            {
                m = m.substring(type.length() + 1);
            }
            else if (m.equals(type))
            {
                m = "";
            }
        }
        m = m.strip().replaceFirst("^Assumption failed: ", "").strip();
        return m.isEmpty() || m.equals("assumption is not true") || m.equals("Assumption failed") ? NO_REASON : m;
    }

    /** "node: LivePodsTest (3), PacketModeTest (1); tap-io: TapPortTest (4)". */
    private static String classes(final List<Skip> skips)
    {
        final Map<String, Map<String, Integer>> counts = new TreeMap<>();
        for (final Skip s : skips)
        {
            counts.computeIfAbsent(s.module(), m -> new TreeMap<>()).merge(s.className(), 1, Integer::sum);
        }
        final List<String> parts = new ArrayList<>();
        counts.forEach((module, byClass) ->
        {
            final List<String> cs = new ArrayList<>();
            byClass.forEach((c, n) -> cs.add(c + " (" + n + ")"));
            parts.add(module + ": " + String.join(", ", cs));
        });
        return String.join("; ", parts);
    }
}
