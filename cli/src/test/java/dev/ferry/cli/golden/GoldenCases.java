package dev.ferry.cli.golden;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Every golden case, and where the case directories live. */
final class GoldenCases
{
    /** The golden root, relative to the cli module (Surefire's working directory). */
    static final Path ROOT = Path.of("src/test/golden");
    /** Shared manifests live here; every other directory under the root is a case. */
    static final String CLUSTERS = "clusters";

    private GoldenCases()
    {
    }

    static List<GoldenCase> all()
    {
        final List<GoldenCase> all = new ArrayList<>(GoldenPathCases.all());
        all.addAll(GoldenMalformedCases.all());
        return all;
    }
}
