package dev.ferry.cni;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.jr.ob.JSON;
import dev.ferry.core.route.Ip4;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the plugin as its own JVM exactly as a runtime does: CNI_* variables in the environment, the network
 * configuration on stdin, the result or error JSON on stdout, the exit status.
 */
final class PluginProcess
{
    private static final String CLASSPATH = classpath();

    private PluginProcess()
    {
    }

    /**
     * What one run gave.
     *
     * @param exit   exit status.
     * @param stdout the JSON printed.
     * @param stderr diagnostics.
     */
    record Run(int exit, String stdout, String stderr)
    {
        Map<String, Object> json()
        {
            try
            {
                return JSON.std.mapFrom(stdout);
            }
            catch (final IOException e)
            {
                throw new AssertionError("stdout is not JSON: '" + stdout + "' (stderr: " + stderr + ")", e);
            }
        }

        @Override
        public String toString()
        {
            return "exit " + exit + ", stdout " + stdout.strip() + ", stderr " + stderr.strip();
        }
    }

    private static String classpath()
    {
        try
        {
            return String.join(File.pathSeparator, where(CniPlugin.class), where(Ip4.class), where(JSON.class),
                where(JsonFactory.class));
        }
        catch (final URISyntaxException e)
        {
            throw new IllegalStateException(e);
        }
    }

    private static String where(final Class<?> c) throws URISyntaxException
    {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }

    static Run run(final Map<String, String> cniEnv, final String stdin)
    {
        final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        final ProcessBuilder pb = new ProcessBuilder(java.toString(), "-XX:TieredStopAtLevel=1", "-Xshare:auto",
            "-cp", CLASSPATH, CniPlugin.class.getName());
        final Map<String, String> env = pb.environment();
        env.clear();
        env.put("PATH", System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
        env.putAll(new HashMap<>(cniEnv));
        try
        {
            final Process p = pb.start();
            try (OutputStream in = p.getOutputStream())
            {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            final String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS))
            {
                p.destroyForcibly();
                throw new AssertionError("the plugin did not finish within 60 s");
            }
            return new Run(p.exitValue(), out, err);
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
