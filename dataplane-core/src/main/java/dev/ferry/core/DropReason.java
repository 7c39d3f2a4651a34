package dev.ferry.core;

/**
 * A named reason for dropping a packet. Implemented by one enum per stage, like VPP's error {@code .def} files
 * and Cilium's {@code drop_reasons.h}: a stable id, never reused, and a sentence that the CLI, metrics and
 * trace print.
 */
public interface DropReason
{
    /** @return the stable id of the reason within its stage. */
    int id();

    /** @return the sentence printed for this reason, e.g. "bad IPv4 header checksum". */
    String sentence();

    /** @return the short name used in counter names, e.g. "bad-checksum". */
    default String counterName()
    {
        return ((Enum<?>)this).name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    /** @return the index of this reason among its stage's reasons (the enum ordinal). */
    default int index()
    {
        return ((Enum<?>)this).ordinal();
    }
}
