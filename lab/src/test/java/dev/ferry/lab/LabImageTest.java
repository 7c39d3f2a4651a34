package dev.ferry.lab;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code ferry lab up --image} without root or podman: which image ID an OCI archive names, a clear error for
 * what is not one, and the {@code podman run} command (the DaemonSet's security settings, the mounts).
 */
class LabImageTest
{
    private static final String CONFIG = "dd3f1247334056b79c19e4b78b9f338fa06ab42099eb547ecfdcd01b615728a1";
    private static final String MANIFEST = "df0e964539a22c4e4573f540e169ec65ecdf876dfd35e3ba3b1cd2843c90bd4a";

    @TempDir
    Path dir;

    private Path archive(final String index, final String manifest) throws IOException
    {
        final Path layout = dir.resolve("layout");
        Files.createDirectories(layout.resolve("blobs/sha256"));
        Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.writeString(layout.resolve("index.json"), index);
        Files.writeString(layout.resolve("blobs/sha256/" + MANIFEST), manifest);
        final Path tar = dir.resolve("image.tar");
        Shell.run(List.of("tar", "-C", layout.toString(), "-cf", tar.toString(), "oci-layout", "index.json", "blobs"),
            10_000, null).check();
        return tar;
    }

    @Test
    void shouldNameTheConfigDigestOfTheFirstManifestAsTheImageId() throws IOException
    {
        final Path tar = archive("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:" + MANIFEST + "\"}]}",
            "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:" + CONFIG + "\"},\"layers\":[]}");
        assertThat(LabImage.configDigest(tar)).isEqualTo(CONFIG);
    }

    @Test
    void shouldRefuseAnArchiveThatNamesNoSha256Digest() throws IOException
    {
        final Path tar = archive("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:" + MANIFEST + "\"}]}",
            "{\"config\":{\"digest\":\"sha256:../../etc/passwd\"}}");
        assertThatThrownBy(() -> LabImage.configDigest(tar)).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("not a sha256 digest");
        final Path notTar = Files.writeString(dir.resolve("plain.tar"), "not a tar");
        assertThatThrownBy(() -> LabImage.configDigest(notTar)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> LabImage.load(dir.resolve("missing.tar"))).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("deploy/image/build.sh");
    }

    @Test
    void shouldRunInTheNodeNamespaceWithOnlyTheGivenCapabilitiesAndTheDaemonSetsMounts()
    {
        final LabImage image = new LabImage(dir.resolve("image.tar"), CONFIG);
        final List<String> cmd = image.run("ferry-node1-node", "ferry-node1", List.of("NET_ADMIN", "NET_RAW"),
            List.of("--device", "/dev/net/tun"), Path.of("/run/ferry-lab/node1"), Path.of("/run/ferry-lab/cluster"),
            List.of("node", "--config", "/run/ferry/node.yaml"));
        final String line = String.join(" ", cmd);
        assertThat(line).contains("--name ferry-node1-node", "--network ns:/run/netns/ferry-node1",
            "--cap-drop=all --cap-add=NET_ADMIN,NET_RAW", "--security-opt no-new-privileges", "--read-only",
            "-v /run/ferry-lab/node1:/run/ferry ", "-v /run/ferry-lab/cluster:/etc/ferry/cluster:ro",
            "--device /dev/net/tun", CONFIG + " node --config /run/ferry/node.yaml").doesNotContain("--privileged");
        assertThat(cmd.indexOf(CONFIG)).as("the image comes after every podman option").isGreaterThan(
            cmd.indexOf("/dev/net/tun"));
        final String agent = String.join(" ", image.run("ferry-node1-agent", "ferry-node1", List.of(), List.of(),
            Path.of("/run/ferry-lab/node1"), Path.of("/run/ferry-lab/cluster"), List.of("agent")));
        assertThat(agent).contains("--cap-drop=all").doesNotContain("--cap-add");
        assertThat(LabImage.containerName(LabSpec.withPrefix("ferry-img-"), "node2", "agent"))
            .isEqualTo("ferry-img-node2-agent");
    }
}
