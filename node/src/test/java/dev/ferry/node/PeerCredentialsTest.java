package dev.ferry.node;

import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Only root or the node's own user may use the API. The credential check is tested directly, and over a real
 * socket with a client running as {@code nobody} (needs root to switch user: tagged and skipped otherwise).
 */
class PeerCredentialsTest
{
    private static final String PYTHON = "/usr/bin/python3";
    private static final String CLIENT = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
        except OSError as e:
            print("connect failed: " + e.strerror)
            sys.exit(0)
        try:
            s.sendall(b'{"v":1,"op":"push","generation":99,"tables":{}}\\n')
        except BrokenPipeError:
            pass  # the node may refuse and close before the request is sent; its refusal line is still readable
        print(s.makefile().readline().strip())
        """;

    @Test
    void shouldAllowRootAndTheNodesOwnUserOnly() throws Exception
    {
        final UserPrincipalLookupService users = FileSystems.getDefault().getUserPrincipalLookupService();
        final UserPrincipal root = users.lookupPrincipalByName("root");
        final UserPrincipal nobody = users.lookupPrincipalByName("nobody");
        final UserPrincipal daemon = users.lookupPrincipalByName("daemon");

        final PeerCredentials runAsDaemon = new PeerCredentials(root, daemon);
        assertThat(runAsDaemon.allowed(root)).as("root").isTrue();
        assertThat(runAsDaemon.allowed(daemon)).as("the node's own user").isTrue();
        assertThat(runAsDaemon.allowed(nobody)).as("another user").isFalse();
        assertThat(runAsDaemon.allowed(null)).as("unknown peer").isFalse();
        assertThat(runAsDaemon.refusal(nobody)).isEqualTo("permission denied: user nobody is neither root nor daemon");
    }

    @Test
    @Tag("netns")
    void shouldRefuseAnotherUserOverTheSocketAndChangeNothing() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "switching to user nobody needs root");
        Assumptions.assumeTrue(Files.isExecutable(Path.of(PYTHON)) && Files.isExecutable(Path.of("/usr/bin/setpriv")),
            "needs /usr/bin/python3 and setpriv for the foreign client");
        // a directory that nobody may traverse, so that only the socket's mode and credentials stand in the way
        final Path dir = Files.createTempDirectory(Path.of("/tmp"), "ferry-nd-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        final Path client = dir.resolve("client.py");
        Files.writeString(client, CLIENT);
        Files.setPosixFilePermissions(client, PosixFilePermissions.fromString("rw-r--r--"));
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1)))
        {
            Files.setPosixFilePermissions(node.socket().getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));

            assertThat(runAsNobody(client, node.socket())).as("mode 0600 keeps nobody out")
                .isEqualTo("connect failed: Permission denied");

            // loosen the mode on purpose: the peer-credential check must still refuse
            Files.setPosixFilePermissions(node.socket(), PosixFilePermissions.fromString("rw-rw-rw-"));
            assertThat(runAsNobody(client, node.socket()))
                .isEqualTo("{\"v\":1,\"ok\":false,\"error\":\"permission denied: user nobody is neither root nor "
                    + "root\"}");

            assertThat(node.daemon.generation()).as("nothing changed").isEqualTo(1);
            try (NodeApiClient root = NodeApiClient.connect(node.socket()))
            {
                assertThat(root.health().path("generation").asLong()).as("root still served").isEqualTo(1);
            }
        }
        finally
        {
            try (var files = Files.walk(dir))
            {
                files.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static String runAsNobody(final Path client, final Path socket) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
            "--clear-groups", PYTHON, client.toString(), socket.toString())).redirectErrorStream(true).start();
        if (!p.waitFor(20, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            throw new AssertionError("client as nobody did not finish");
        }
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }
}
