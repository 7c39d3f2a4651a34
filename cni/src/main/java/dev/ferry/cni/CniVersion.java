package dev.ferry.cni;

import java.util.ArrayList;
import java.util.List;

/**
 * The versions of the CNI specification the plugin answers for, and what each allows. Results differ by
 * version: 0.3.x and 0.4.0 carry {@code ips[].version}, 1.0.0 dropped it; CHECK exists from 0.4.0; STATUS, GC
 * and {@code interfaces[].mtu} from 1.1.0.
 */
public enum CniVersion
{
    /** 0.3.0. */
    V0_3_0("0.3.0"),
    /** 0.3.1. */
    V0_3_1("0.3.1"),
    /** 0.4.0: adds CHECK and {@code prevResult} on DEL. */
    V0_4_0("0.4.0"),
    /** 1.0.0: drops {@code ips[].version}. */
    V1_0_0("1.0.0"),
    /** 1.1.0: adds STATUS, GC, {@code interfaces[].mtu}. */
    V1_1_0("1.1.0");

    private final String text;

    CniVersion(final String text)
    {
        this.text = text;
    }

    /**
     * @return the version as the specification writes it.
     */
    public String text()
    {
        return text;
    }

    /**
     * @param text a version string from a configuration.
     * @return the version.
     * @throws CniException code 1 when the plugin does not speak it.
     */
    public static CniVersion parse(final String text)
    {
        for (final CniVersion v : values())
        {
            if (v.text.equals(text))
            {
                return v;
            }
        }
        throw new CniException(CniError.INCOMPATIBLE_VERSION, "cniVersion '" + text
            + "' is not supported; supported versions are " + supportedTexts());
    }

    /**
     * @return every supported version text, oldest first.
     */
    public static List<String> supportedTexts()
    {
        final List<String> out = new ArrayList<>();
        for (final CniVersion v : values())
        {
            out.add(v.text);
        }
        return out;
    }

    /**
     * @return whether {@code ips[]} entries carry {@code "version"} (0.3.x and 0.4.0).
     */
    public boolean ipsHaveVersion()
    {
        return compareTo(V1_0_0) < 0;
    }

    /**
     * @return whether CHECK exists in this version (0.4.0 and later).
     */
    public boolean hasCheck()
    {
        return compareTo(V0_4_0) >= 0;
    }

    /**
     * @return whether STATUS and GC exist, and interfaces carry an MTU (1.1.0).
     */
    public boolean hasStatusAndGc()
    {
        return compareTo(V1_1_0) >= 0;
    }
}
