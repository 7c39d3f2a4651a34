package dev.ferry.agent;

/**
 * A Kubernetes object (from a manifest file or from the API server) that ferry cannot use. The message is one
 * line that names the file, the object and the field:
 *
 * <pre>
 * nodes.yaml: Node node-a: spec.podCIDR: not an IPv4 CIDR: '10.244.1.0/33'
 * </pre>
 *
 * <p>A YAML syntax error names the line and column instead of an object
 * ({@code pods.yaml: line 7, column 3: malformed YAML: ...}).
 */
public final class ManifestException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    /** The file (or source) name. */
    private final String file;
    /** "Kind namespace/name", "Kind name", or a line and column for syntax errors. */
    private final String object;
    /** The field path, e.g. "spec.ports[0].port"; empty when the problem is the whole object. */
    private final String field;
    /** What is wrong. */
    private final String problem;
    /** A machine-readable reason for the metrics and skip reports (e.g. nodeport-out-of-range), or null. */
    private final String reason;

    /**
     * @param file    the file or source name.
     * @param object  the object ("Kind ns/name") or the position of a syntax error.
     * @param field   the field path, or "" when none.
     * @param problem what is wrong.
     */
    public ManifestException(final String file, final String object, final String field, final String problem)
    {
        this(file, object, field, problem, null);
    }

    /**
     * @param file    the file or source name.
     * @param object  the object ("Kind ns/name") or the position of a syntax error.
     * @param field   the field path, or "" when none.
     * @param problem what is wrong.
     * @param reason  a machine-readable reason, or null when only the sentence says what is wrong.
     */
    public ManifestException(final String file, final String object, final String field, final String problem,
        final String reason)
    {
        super(format(file, object, field, problem));
        this.file = file;
        this.object = object;
        this.field = field;
        this.problem = problem;
        this.reason = reason;
    }

    /** @return the machine-readable reason, or null. */
    public String reason()
    {
        return reason;
    }

    /** @return the file or source name. */
    public String file()
    {
        return file;
    }

    /** @return the object ("Kind ns/name") or the position of a syntax error. */
    public String object()
    {
        return object;
    }

    /** @return the field path, or "" when none. */
    public String field()
    {
        return field;
    }

    /** @return what is wrong. */
    public String problem()
    {
        return problem;
    }

    private static String format(final String file, final String object, final String field, final String problem)
    {
        final StringBuilder sb = new StringBuilder(file).append(": ").append(object).append(": ");
        if (!field.isEmpty())
        {
            sb.append(field).append(": ");
        }
        return sb.append(problem.replace('\n', ' ')).toString();
    }
}
