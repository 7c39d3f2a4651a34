package dev.ferry.bench;

/**
 * JVM options every benchmark fork gets (through {@code @Fork(jvmArgsAppend = ...)}).
 *
 * <p>A fixed heap keeps GC sizing out of the comparison between runs; native access is what the I/O modules
 * need once their benchmarks join; JCTools still reads through {@code sun.misc.Unsafe}, which JDK 25 only
 * warns about, so the warning is silenced by allowing it explicitly; Agrona 2.x needs
 * {@code jdk.internal.misc} exported to the class path.
 */
final class Jvm
{
    /** Allow FFM restricted methods (tap-io, later). */
    static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    /** JCTools and Agrona use {@code sun.misc.Unsafe} memory access. */
    static final String UNSAFE_ALLOW = "--sun-misc-unsafe-memory-access=allow";
    /** Agrona 2.x reaches {@code jdk.internal.misc.Unsafe}; without this its queues fail to load. */
    static final String AGRONA_EXPORTS = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    /** Fixed initial heap. */
    static final String HEAP_MIN = "-Xms2g";
    /** Fixed maximum heap. */
    static final String HEAP_MAX = "-Xmx2g";

    private Jvm()
    {
    }
}
