package dev.ferry.core;

/**
 * A named reason for dropping a packet. Implemented by one enum per stage, like VPP's error {@code .def} files
 * and Cilium's {@code drop_reasons.h}: an id that is unique across the whole project and never reused, a
 * counter name and a sentence.
 *
 * <p>Each module numbers its reasons inside the id range the catalogue gives it (dataplane-core 1-99, nat
 * 100-199, vxlan 200-249, dataplane-core's worker handoff 250-254,
 * node 300-399, tap-io 400-499). Every id, the retired ones included, is listed in the
 * node module's {@code DropCatalogue} and in {@code docs/drop-reasons.md}, and a test keeps the three in step.
 * A removed reason's id moves to the catalogue's retired list and is never given out again.
 */
public interface DropReason
{
    /** @return the id of the reason, unique across all stages and modules. */
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

    /**
     * The one text that the CLI, trace and replay reports print for a drop, so that they all agree.
     *
     * @return id, counter name and quoted sentence, e.g. {@code 19 bad-checksum: "bad IPv4 header checksum"}.
     */
    default String describe()
    {
        return id() + " " + counterName() + ": \"" + sentence() + "\"";
    }
}
