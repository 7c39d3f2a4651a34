package dev.ferry.cni;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code ferry} CNI plugin (CNI specification 1.1.0; also answers 0.3.0, 0.3.1, 0.4.0 and 1.0.0
 * configurations). A runtime runs it with CNI_* variables and the network configuration on stdin; it prints a
 * result (ADD), the versions (VERSION), nothing (DEL, CHECK, STATUS, GC) or an error JSON with a code and a
 * non-zero exit status.
 *
 * <pre>
 *   runtime ──env + stdin──► CniPlugin ──► host-local (IPAM, on CNI_PATH)
 *                                      ──► ferry node (Unix socket, JSON lines): attach / detach / show / health
 *                                      ──► iproute2 in CNI_NETNS (nsenter): move TAP, rename, address, routes
 * </pre>
 */
public final class CniPlugin
{
    /** Largest network configuration read from stdin (a chain's prevResult included); more is refused (code 7). */
    static final int MAX_STDIN = 1 << 20;

    private CniPlugin()
    {
    }

    /**
     * Runs one command as a runtime calls it and exits with its status.
     *
     * @param args ignored (CNI passes everything through the environment).
     */
    public static void main(final String[] args)
    {
        final PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        final int status = run(System.getenv(), System.in, out, System.err);
        out.flush();
        System.exit(status);
    }

    /**
     * Runs one command.
     *
     * @param env   the CNI_* environment (and whatever else the runtime set, which IPAM inherits).
     * @param stdin the network configuration.
     * @param out   where the result or error JSON goes.
     * @param log   where diagnostics go (stderr).
     * @return the exit status: 0 on success, 1 after printing an error.
     */
    public static int run(final Map<String, String> env, final InputStream stdin, final PrintStream out,
        final PrintStream log)
    {
        String version = CniVersion.V1_1_0.text();
        try
        {
            final String command = env.get("CNI_COMMAND");
            final String text = readStdin(stdin);
            if ("VERSION".equals(command))
            {
                out.println(Fields.write(versionAnswer()));
                return 0;
            }
            final String peeked = text.isBlank() ? null : NetConf.peekVersion(text);
            if (peeked != null && CniVersion.supportedTexts().contains(peeked))
            {
                version = peeked;
            }
            final CniEnv cni = CniEnv.from(env);
            final NetConf conf = NetConf.parse(text);
            switch (cni.command())
            {
                case "ADD" -> out.println(Fields.write(AddCommand.run(conf, cni, log).render(conf.version())));
                case "DEL" -> DelCommand.run(conf, cni, log);
                case "CHECK" -> CheckCommand.run(conf, cni);
                case "STATUS" -> GcCommand.status(conf, cni);
                case "GC" -> GcCommand.gc(conf, cni, log);
                default -> throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_COMMAND: " + cni.command());
            }
            return 0;
        }
        catch (final CniException e)
        {
            out.println(Fields.write(errorAnswer(version, e.error(), e.getMessage())));
            return 1;
        }
        catch (final RuntimeException e)
        {
            // a bug: still answer in the spec's shape, with the exception in the details
            out.println(Fields.write(errorAnswer(version, CniError.IO_FAILURE, "internal error: " + e)));
            e.printStackTrace(log);
            return 1;
        }
    }

    private static String readStdin(final InputStream in)
    {
        try
        {
            final byte[] text = in.readNBytes(MAX_STDIN + 1);
            if (text.length > MAX_STDIN)
            {
                throw new CniException(CniError.INVALID_CONFIG, "the network configuration on stdin is longer than "
                    + MAX_STDIN + " bytes");
            }
            return new String(text, StandardCharsets.UTF_8);
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "reading the network configuration from stdin: " + e);
        }
    }

    /**
     * @return the VERSION answer.
     */
    static Map<String, Object> versionAnswer()
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("cniVersion", CniVersion.V1_1_0.text());
        m.put("supportedVersions", CniVersion.supportedTexts());
        return m;
    }

    /**
     * @param version the configuration's version (or the newest when unknown).
     * @param error   the code.
     * @param details what went wrong.
     * @return the error JSON.
     */
    static Map<String, Object> errorAnswer(final String version, final CniError error, final String details)
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("cniVersion", version);
        m.put("code", error.code());
        m.put("msg", error.sentence());
        if (details != null)
        {
            m.put("details", details);
        }
        return m;
    }
}
