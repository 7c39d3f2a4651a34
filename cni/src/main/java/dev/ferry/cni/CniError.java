package dev.ferry.cni;

/**
 * The error codes the plugin answers with. Codes below 100 are the CNI specification's well-known codes
 * (SPEC.md, "Well-known Error Codes"); 100 and up are ferry's own. Codes are stable and never reused; the
 * sentence is the {@code msg} of the error JSON, and the detail goes to {@code details}.
 */
public enum CniError
{
    /** The configuration's {@code cniVersion} is one the plugin does not speak, or the command needs a newer one. */
    INCOMPATIBLE_VERSION(1, "incompatible CNI version"),
    /** A field of the network configuration has a value the plugin does not support. */
    UNSUPPORTED_FIELD(2, "unsupported field in network configuration"),
    /** The container is unknown (never used by DEL, which succeeds instead). */
    UNKNOWN_CONTAINER(3, "container unknown or does not exist"),
    /** A CNI_* environment variable is missing or malformed. */
    INVALID_ENVIRONMENT(4, "invalid necessary environment variables"),
    /** Reading stdin or writing state failed. */
    IO_FAILURE(5, "I/O failure"),
    /** The network configuration on stdin is not JSON. */
    DECODE_FAILURE(6, "failed to decode content"),
    /** The network configuration is JSON but not a valid ferry configuration. */
    INVALID_CONFIG(7, "invalid network config"),
    /** The node daemon did not answer; the runtime should try again later. */
    TRY_AGAIN_LATER(11, "try again later"),
    /** STATUS: the node daemon does not answer, so the plugin cannot add pods. */
    NOT_AVAILABLE(50, "plugin not available"),
    /** The delegated IPAM plugin failed or could not be run. */
    IPAM_FAILED(100, "IPAM plugin failed"),
    /** The node daemon refused the request. */
    NODE_REFUSED(101, "node refused the request"),
    /** Moving or configuring the interface in the container's network namespace failed. */
    NETNS_FAILED(102, "container interface setup failed"),
    /** CHECK found the container's network different from the previous result. */
    CHECK_FAILED(103, "container network does not match the previous result"),
    /** The IPAM plugin returned an address family or shape ferry does not support (IPv4 only for now). */
    UNSUPPORTED_ADDRESS(104, "IPAM result not supported");

    private final int code;
    private final String sentence;

    CniError(final int code, final String sentence)
    {
        this.code = code;
        this.sentence = sentence;
    }

    /**
     * @return the stable numeric code printed as {@code code}.
     */
    public int code()
    {
        return code;
    }

    /**
     * @return the sentence printed as {@code msg}.
     */
    public String sentence()
    {
        return sentence;
    }
}
