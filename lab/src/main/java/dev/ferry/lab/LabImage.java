package dev.ferry.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ferry lab up --image}: each node's {@code ferry node} and {@code ferry agent} run in the container image
 * ({@code deploy/image/build.sh}'s OCI archive) with podman, in the lab node's network namespace, with what the
 * DaemonSet grants them and nothing more.
 *
 * <p>The archive is loaded with {@code podman load} (no registry) and the containers run by image ID, which is the
 * digest of the archive's image config: another image loaded under the same tag meanwhile cannot be run by
 * mistake. Containers are named {@code <prefix>nodeN-node} and {@code <prefix>nodeN-agent}, recorded in the state
 * directory before they start, and removed by name ({@link #remove(String)}).
 *
 * @param archive the OCI archive.
 * @param imageId the image's ID in podman's store (the config digest, 64 hex digits).
 */
public record LabImage(Path archive, String imageId)
{
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long LOAD_MS = 180_000;
    private static final long PODMAN_MS = 30_000;
    /** Where the DaemonSet mounts the node's API socket directory (hostPath /run/ferry). */
    static final String RUN_FERRY = "/run/ferry";
    /** Where the image's node reads the lab's manifests (read-only). */
    static final String CLUSTER_DIR = "/etc/ferry/cluster";

    /**
     * Finds the image ID of an archive and loads the archive into podman's store unless that image is there.
     *
     * @param archive the OCI archive ({@code deploy/image/target/ferry-image.tar}).
     * @return the loaded image.
     * @throws IllegalStateException when podman is missing, the archive is not an OCI archive, or the load fails.
     */
    public static LabImage load(final Path archive)
    {
        if (!Files.isRegularFile(archive))
        {
            throw new IllegalStateException("no image archive at " + archive
                + " (build it with deploy/image/build.sh)");
        }
        if (!Shell.run("sh", "-c", "command -v podman").ok())
        {
            throw new IllegalStateException("--image needs podman (apt-get install podman runc)");
        }
        final String id = configDigest(archive);
        if (!Shell.run("podman", "image", "exists", id).ok())
        {
            Shell.run(List.of("podman", "load", "-q", "-i", archive.toString()), LOAD_MS, null).check();
            if (!Shell.run("podman", "image", "exists", id).ok())
            {
                throw new IllegalStateException("podman load " + archive + " did not give image " + id);
            }
        }
        return new LabImage(archive, id);
    }

    /** The config digest named by the archive's first manifest: podman's ID of the image. */
    static String configDigest(final Path archive)
    {
        try
        {
            final JsonNode index = JSON.readTree(extract(archive, "index.json"));
            final String manifest = hex(index.path("manifests").path(0).path("digest").asText());
            final JsonNode m = JSON.readTree(extract(archive, "blobs/sha256/" + manifest));
            return hex(m.path("config").path("digest").asText());
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(archive + " is not an OCI archive: " + e.getMessage(), e);
        }
    }

    private static String hex(final String digest)
    {
        if (!digest.matches("sha256:[0-9a-f]{64}"))
        {
            throw new IllegalStateException("not a sha256 digest: '" + digest + "'");
        }
        return digest.substring("sha256:".length());
    }

    private static String extract(final Path archive, final String member)
    {
        return Shell.run(List.of("tar", "-xOf", archive.toString(), member), PODMAN_MS, null).check().out();
    }

    /**
     * @param spec the lab.
     * @param node a node name.
     * @param what {@code node} or {@code agent}.
     * @return the container's name.
     */
    public static String containerName(final LabSpec spec, final String node, final String what)
    {
        return spec.nodeNs(node) + "-" + what;
    }

    /**
     * The {@code podman run} command of one of a node's containers: in the node's network namespace, the
     * DaemonSet's security settings (every capability dropped but {@code caps}, no privilege escalation, a
     * read-only root filesystem, an in-memory {@code /tmp}), the node's state directory at {@code /run/ferry} and
     * the lab's manifests at {@code /etc/ferry/cluster}. It runs in the foreground: the lab records podman's PID,
     * and SIGTERM to it reaches ferry (podman proxies signals).
     *
     * <p>podman runs with runc where installed (crun refuses hybrid cgroup hierarchies) and with lowered rlimits
     * (podman's defaults need CAP_SYS_RESOURCE, which a sandbox may not have).
     *
     * @param name     the container's name.
     * @param netns    the lab node's namespace ({@code /run/netns/NAME}).
     * @param caps     the capabilities to add back.
     * @param extra    more {@code podman run} options (devices, sysctls, environment).
     * @param runFerry the host directory mounted at {@code /run/ferry}.
     * @param cluster  the host directory mounted read-only at {@code /etc/ferry/cluster}.
     * @param args     ferry's arguments.
     * @return the command.
     */
    List<String> run(final String name, final String netns, final List<String> caps, final List<String> extra,
        final Path runFerry, final Path cluster, final List<String> args)
    {
        final List<String> cmd = new ArrayList<>(List.of("podman"));
        if (Shell.run("sh", "-c", "command -v runc").ok())
        {
            cmd.addAll(List.of("--runtime", "runc"));
        }
        cmd.addAll(List.of("run", "--rm", "--name", name, "--network", "ns:/run/netns/" + netns,
            "--cap-drop=all"));
        if (!caps.isEmpty())
        {
            cmd.add("--cap-add=" + String.join(",", caps));
        }
        cmd.addAll(List.of("--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp:size=16m",
            "--user", "0", "--ulimit", "nofile=8192:8192", "--ulimit", "nproc=8192:8192",
            "-v", runFerry.toAbsolutePath() + ":" + RUN_FERRY,
            "-v", cluster.toAbsolutePath() + ":" + CLUSTER_DIR + ":ro",
            "-e", "FERRY_JAVA_OPTS=-Xmx256m -XX:+UseSerialGC"));
        cmd.addAll(extra);
        cmd.add(imageId);
        cmd.addAll(args);
        return cmd;
    }

    /**
     * Removes a container by name (stopped first, 5 s grace); a missing one is not an error.
     *
     * @param name the container's name.
     * @return whether podman removed one.
     */
    public static boolean remove(final String name)
    {
        if (!Shell.run("podman", "container", "exists", name).ok())
        {
            return false;
        }
        return Shell.run(List.of("podman", "rm", "-f", "--time", "5", "--ignore", name), PODMAN_MS, null).ok();
    }
}
