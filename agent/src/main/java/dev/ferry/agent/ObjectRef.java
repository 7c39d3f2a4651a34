package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.HasMetadata;

/**
 * Where an object came from and what it is called, for error messages: {@code nodes.yaml: Node node-a}.
 *
 * @param source    file name (manifests) or another source name (e.g. "api").
 * @param kind      object kind.
 * @param namespace namespace, or "" for cluster-scoped objects.
 * @param name      object name.
 */
record ObjectRef(String source, String kind, String namespace, String name)
{
    static ObjectRef of(final String source, final HasMetadata obj)
    {
        final String ns = obj.getMetadata() == null || obj.getMetadata().getNamespace() == null
            ? "" : obj.getMetadata().getNamespace();
        final String name = obj.getMetadata() == null || obj.getMetadata().getName() == null
            ? "" : obj.getMetadata().getName();
        return new ObjectRef(source, obj.getKind(), ns, name);
    }

    /** @return "ns/name" or "name". */
    String qualifiedName()
    {
        return namespace.isEmpty() ? name : namespace + "/" + name;
    }

    /**
     * @param field   field path.
     * @param problem what is wrong.
     * @return the exception to throw.
     */
    ManifestException fail(final String field, final String problem)
    {
        return fail(field, problem, null);
    }

    /**
     * @param field   field path.
     * @param problem what is wrong.
     * @param reason  the machine-readable reason (a skip report's), or null.
     * @return the exception to throw.
     */
    ManifestException fail(final String field, final String problem, final String reason)
    {
        return new ManifestException(source, kind + " " + qualifiedName(), field, problem, reason);
    }
}
