package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Endpoints;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDR;
import org.snakeyaml.engine.v2.exceptions.MarkedYamlEngineException;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.core.TokenStreamLocation;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Reads a directory of Kubernetes manifests into a {@link ClusterState}.
 *
 * <pre>
 *   DIR/*.yaml, *.yml, *.json (sorted by name, not recursive)
 *     │  YAML, multi-document (---); JSON; "kind: List" (kubectl get -o yaml) and "kind: PodList" etc.
 *     ▼
 *   JsonNode per object ──► known kind? ──no──► note "skipping Kind ns/name in FILE: kind not used by ferry"
 *                                │yes
 *                                ▼
 *   fabric8 model object (Node, Pod, Service, Endpoints, EndpointSlice, ConfigMap, ServiceCIDR)
 *                                ▼
 *   validated: every field ferry reads parses (addresses, CIDRs, ports, settings) ──► ClusterState
 * </pre>
 *
 * <p>Any problem is a {@link ManifestException} whose one-line message names the file, the object and the
 * field; nothing is half-loaded.
 */
public final class ManifestLoader
{
    // documents are read one by one from a single parser, so what follows a document is not an error
    private static final ObjectMapper YAML = YAMLMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .disable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .build();
    private static final ObjectMapper JSON = JsonMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .disable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .build();

    /** API group ("" for core) and kind → model class. */
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
        "/Node", Node.class,
        "/Pod", Pod.class,
        "/Service", Service.class,
        "/Endpoints", Endpoints.class,
        "/ConfigMap", ConfigMap.class,
        "discovery.k8s.io/EndpointSlice", EndpointSlice.class,
        "networking.k8s.io/ServiceCIDR", ServiceCIDR.class);

    private ManifestLoader()
    {
    }

    /**
     * Loads every manifest file of a directory (or one file).
     *
     * @param path  a directory of {@code *.yaml}, {@code *.yml} and {@code *.json} files, or one such file.
     * @param notes receives one line per skipped object (unknown kinds).
     * @return the objects, validated.
     * @throws IOException       when a file cannot be read.
     * @throws ManifestException when an object is malformed; the message names file, object and field.
     */
    public static ClusterState load(final Path path, final Consumer<String> notes) throws IOException
    {
        return load(path, notes, NodeTablesCompiler.STRICT);
    }

    /**
     * Loads manifests, leaving objects that cannot be compiled to {@code skipped} instead of failing.
     *
     * @param path    a manifest file or a directory of them.
     * @param notes   told of objects that are ignored on purpose.
     * @param skipped told of each object the compiler would leave out.
     * @return the objects.
     * @throws IOException when a file cannot be read.
     */
    public static ClusterState load(final Path path, final Consumer<String> notes,
        final Consumer<NodeTablesCompiler.Skipped> skipped) throws IOException
    {
        final List<Path> files = new ArrayList<>();
        if (Files.isDirectory(path))
        {
            try (Stream<Path> s = Files.list(path))
            {
                s.filter(ManifestLoader::isManifest).filter(Files::isRegularFile).sorted().forEach(files::add);
            }
        }
        else
        {
            files.add(path);
        }
        final ClusterState.Builder builder = ClusterState.builder();
        for (final Path f : files)
        {
            final String text = Files.readString(f, StandardCharsets.UTF_8);
            parse(f.getFileName().toString(), text, builder, notes);
        }
        return validate(builder.build(), skipped);
    }

    /**
     * Parses one file's text into a builder, for tests and for callers with their own files.
     *
     * @param fileName the name used in messages; ".json" selects JSON, anything else YAML.
     * @param text     the file's content.
     * @param into     receives the objects.
     * @param notes    receives one line per skipped object.
     * @throws ManifestException when the text or an object is malformed.
     */
    public static void parse(final String fileName, final String text, final ClusterState.Builder into,
        final Consumer<String> notes)
    {
        final ObjectMapper mapper = fileName.endsWith(".json") ? JSON : YAML;
        int document = 0;
        try (JsonParser parser = mapper.createParser(text))
        {
            JsonToken t;
            while ((t = nextDocument(parser, fileName)) != null)
            {
                document++;
                final TokenStreamLocation at = parser.currentTokenLocation();
                final String where = "document " + document + " (line " + at.getLineNr() + ")";
                if (t == JsonToken.VALUE_NULL)
                {
                    continue;
                }
                final JsonNode node = readTree(mapper, parser, fileName);
                if (!node.isObject())
                {
                    throw new ManifestException(fileName, where, "", "not a Kubernetes object (a mapping)");
                }
                addObject(fileName, where, node, into, notes);
            }
        }
    }

    /**
     * Checks every field that ferry reads, so that a bad manifest fails at load and not at the first compile.
     *
     * @param state the objects.
     * @return the same state.
     * @throws ManifestException naming the first bad field.
     */
    public static ClusterState validate(final ClusterState state)
    {
        return validate(state, NodeTablesCompiler.STRICT);
    }

    /**
     * Checks every field that ferry reads; an object that the compiler would leave out goes to {@code skipped}.
     *
     * @param state   the objects.
     * @param skipped told of each such object ({@link NodeTablesCompiler#STRICT}: throw the first).
     * @return the same state.
     * @throws ManifestException when the cluster settings are malformed (or from a strict sink).
     */
    public static ClusterState validate(final ClusterState state, final Consumer<NodeTablesCompiler.Skipped> skipped)
    {
        final var settings = ClusterSettingsReader.read(state);
        NodeTablesCompiler.validate(state, settings, skipped);
        return state;
    }

    private static boolean isManifest(final Path p)
    {
        final String n = p.getFileName().toString();
        return !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml") || n.endsWith(".json"));
    }

    private static JsonToken nextDocument(final JsonParser parser, final String fileName)
    {
        try
        {
            return parser.nextToken();
        }
        catch (final JacksonException e)
        {
            throw syntaxError(fileName, e);
        }
    }

    private static JsonNode readTree(final ObjectMapper mapper, final JsonParser parser, final String fileName)
    {
        try
        {
            return mapper.readTree(parser);
        }
        catch (final JacksonException e)
        {
            throw syntaxError(fileName, e);
        }
    }

    private static ManifestException syntaxError(final String fileName, final JacksonException e)
    {
        final TokenStreamLocation loc = e.getLocation();
        final String position = loc == null ? "unknown position"
            : "line " + loc.getLineNr() + ", column " + loc.getColumnNr();
        final String what;
        if (e.getCause() instanceof MarkedYamlEngineException y)
        {
            what = y.getProblem();
        }
        else
        {
            final String m = e.getOriginalMessage();
            what = m.lines().findFirst().orElse(m);
        }
        final String kind = fileName.endsWith(".json") ? "malformed JSON: " : "malformed YAML: ";
        return new ManifestException(fileName, position, "", kind + what);
    }

    private static void addObject(final String fileName, final String where, final JsonNode node,
        final ClusterState.Builder into, final Consumer<String> notes)
    {
        final String kind = node.path("kind").asString("");
        if (kind.isEmpty())
        {
            throw new ManifestException(fileName, where, "kind", "missing");
        }
        final JsonNode items = node.get("items");
        if (kind.endsWith("List") && items != null)
        {
            if (!items.isArray() && !items.isNull())
            {
                throw new ManifestException(fileName, kind + " " + where, "items", "not a list");
            }
            int i = 0;
            for (final JsonNode item : items)
            {
                final String itemWhere = kind + " " + where + " items[" + i++ + "]";
                if (!item.isObject())
                {
                    throw new ManifestException(fileName, itemWhere, "", "not a Kubernetes object (a mapping)");
                }
                addObject(fileName, itemWhere, item, into, notes);
            }
            return;
        }
        final String name = node.path("metadata").path("name").asString("");
        final String ns = node.path("metadata").path("namespace").asString("");
        final String qualified = ns.isEmpty() ? name : ns + "/" + name;
        final String apiVersion = node.path("apiVersion").asString("");
        final int slash = apiVersion.indexOf('/');
        final Class<? extends HasMetadata> type = KINDS.get((slash < 0 ? "" : apiVersion.substring(0, slash))
            + "/" + kind);
        if (type == null)
        {
            notes.accept("skipping " + kind + " " + qualified + " in " + fileName + ": kind not used by ferry");
            return;
        }
        if (name.isEmpty())
        {
            throw new ManifestException(fileName, kind + " " + where, "metadata.name", "missing");
        }
        final ObjectRef ref = new ObjectRef(fileName, kind, ns, name);
        final HasMetadata obj = convert(ref, node, type);
        final String previous = into.sourceOf(obj);
        if (previous != null)
        {
            throw ref.fail("metadata.name", "defined twice (also in " + previous + ")");
        }
        into.add(obj, fileName);
    }

    private static HasMetadata convert(final ObjectRef ref, final JsonNode node,
        final Class<? extends HasMetadata> type)
    {
        try
        {
            return JSON.treeToValue(node, type);
        }
        catch (final JacksonException e)
        {
            final String field = fieldPath(e.getPath());
            final JsonNode actual = at(node, e.getPath());
            final String expected = e instanceof MismatchedInputException m && m.getTargetType() != null
                ? describeType(m.getTargetType()) : null;
            if (expected != null && actual != null)
            {
                throw ref.fail(field, "expected " + expected + ", got " + describeValue(actual));
            }
            final String m = e.getOriginalMessage();
            throw ref.fail(field, m.lines().findFirst().orElse(m));
        }
    }

    private static String fieldPath(final List<JacksonException.Reference> path)
    {
        final StringBuilder sb = new StringBuilder();
        for (final JacksonException.Reference r : path)
        {
            if (r.getPropertyName() != null)
            {
                if (!sb.isEmpty())
                {
                    sb.append('.');
                }
                sb.append(r.getPropertyName());
            }
            else if (r.getIndex() >= 0)
            {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    private static JsonNode at(final JsonNode root, final List<JacksonException.Reference> path)
    {
        JsonNode n = root;
        for (final JacksonException.Reference r : path)
        {
            if (n == null)
            {
                return null;
            }
            n = r.getPropertyName() != null ? n.get(r.getPropertyName()) : n.get(r.getIndex());
        }
        return n;
    }

    private static String describeType(final Class<?> type)
    {
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class)
        {
            return "an integer";
        }
        if (type == Boolean.class || type == boolean.class)
        {
            return "true or false";
        }
        if (type == String.class)
        {
            return "a string";
        }
        if (Collection.class.isAssignableFrom(type))
        {
            return "a list";
        }
        if (Map.class.isAssignableFrom(type))
        {
            return "a mapping";
        }
        return "a mapping (" + type.getSimpleName() + ")";
    }

    private static String describeValue(final JsonNode n)
    {
        if (n.isObject())
        {
            return "a mapping";
        }
        if (n.isArray())
        {
            return "a list";
        }
        if (n.isString())
        {
            return "'" + n.asString() + "'";
        }
        return n.toString();
    }
}
