package dev.ferry.cni;

import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The CNI_* environment of one invocation, validated for the command it carries.
 *
 * @param command     CNI_COMMAND (ADD, DEL, CHECK, VERSION, STATUS, GC).
 * @param containerId CNI_CONTAINERID, or null.
 * @param netns       CNI_NETNS (a path), or null.
 * @param ifName      CNI_IFNAME, or null.
 * @param path        CNI_PATH directories, in order.
 * @param args        CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, ...).
 * @param all         the whole environment, passed on to the IPAM plugin.
 */
public record CniEnv(String command, String containerId, String netns, String ifName, List<String> path,
    Map<String, String> args, Map<String, String> all)
{
    private static final Pattern CONTAINER_ID = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_.\\-]*");

    /**
     * Reads and validates the environment for its command.
     *
     * @param env the process environment.
     * @return the validated environment.
     * @throws CniException code 4 naming the variable when one is missing or malformed.
     */
    public static CniEnv from(final Map<String, String> env)
    {
        final String command = env.get("CNI_COMMAND");
        if (command == null || command.isEmpty())
        {
            throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_COMMAND is not set");
        }
        final boolean needsContainer = switch (command)
        {
            case "ADD", "DEL", "CHECK" -> true;
            case "VERSION", "STATUS", "GC" -> false;
            default -> throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_COMMAND: unknown command '"
                + command + "' (ADD, DEL, CHECK, VERSION, STATUS, GC)");
        };
        String containerId = null;
        String ifName = null;
        String netns = blankToNull(env.get("CNI_NETNS"));
        final List<String> missing = new ArrayList<>();
        if (needsContainer)
        {
            containerId = blankToNull(env.get("CNI_CONTAINERID"));
            ifName = blankToNull(env.get("CNI_IFNAME"));
            if (containerId == null)
            {
                missing.add("CNI_CONTAINERID");
            }
            if (ifName == null)
            {
                missing.add("CNI_IFNAME");
            }
            if (netns == null && !command.equals("DEL"))
            {
                missing.add("CNI_NETNS");
            }
        }
        final List<String> path = splitPath(env.get("CNI_PATH"));
        if (path.isEmpty() && !command.equals("VERSION"))
        {
            missing.add("CNI_PATH");
        }
        if (!missing.isEmpty())
        {
            throw new CniException(CniError.INVALID_ENVIRONMENT, String.join(", ", missing)
                + (missing.size() == 1 ? " is" : " are") + " not set");
        }
        if (containerId != null && !CONTAINER_ID.matcher(containerId).matches())
        {
            throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_CONTAINERID: '" + containerId
                + "' must be letters, digits, '_', '.' or '-', starting with a letter or digit");
        }
        if (ifName != null)
        {
            validateIfName(ifName);
        }
        return new CniEnv(command, containerId, netns, ifName, path, parseArgs(env.get("CNI_ARGS")), env);
    }

    private static String blankToNull(final String s)
    {
        return s == null || s.isBlank() ? null : s;
    }

    private static List<String> splitPath(final String s)
    {
        final List<String> out = new ArrayList<>();
        if (s != null)
        {
            for (final String p : s.split(File.pathSeparator))
            {
                if (!p.isBlank())
                {
                    out.add(p);
                }
            }
        }
        return out;
    }

    /**
     * Checks a Linux interface name: 1 to 15 bytes, no '/', ':' or white space, not "." or "..".
     *
     * @param name the name.
     * @throws CniException code 4 when it is not a valid name.
     */
    static void validateIfName(final String name)
    {
        boolean ok = !name.isEmpty() && name.length() <= 15 && !name.equals(".") && !name.equals("..");
        for (int i = 0; ok && i < name.length(); i++)
        {
            final char c = name.charAt(i);
            ok = c > ' ' && c < 127 && c != '/' && c != ':';
        }
        if (!ok)
        {
            throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_IFNAME: '" + name
                + "' is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)");
        }
    }

    /**
     * Parses CNI_ARGS, "K1=V1;K2=V2".
     *
     * @param text the variable, or null.
     * @return the pairs in order.
     * @throws CniException code 4 when a pair has no '='.
     */
    static Map<String, String> parseArgs(final String text)
    {
        final Map<String, String> out = new LinkedHashMap<>();
        if (text == null || text.isBlank())
        {
            return out;
        }
        for (final String pair : text.split(";"))
        {
            if (pair.isEmpty())
            {
                continue;
            }
            final int eq = pair.indexOf('=');
            if (eq <= 0)
            {
                throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_ARGS: '" + pair
                    + "' is not KEY=VALUE");
            }
            out.put(pair.substring(0, eq), pair.substring(eq + 1));
        }
        return out;
    }

    /**
     * @return the pod namespace from CNI_ARGS, or "".
     */
    public String podNamespace()
    {
        return args.getOrDefault("K8S_POD_NAMESPACE", "");
    }

    /**
     * @return the pod name from CNI_ARGS, or "".
     */
    public String podName()
    {
        return args.getOrDefault("K8S_POD_NAME", "");
    }
}
