package dev.ferry.cli.scenario;

/**
 * One frame with its capture time, as a scenario produces it and a pcap stores it.
 *
 * @param epochNanos capture time, nanoseconds since the epoch.
 * @param frame      the Ethernet frame.
 */
public record TimedFrame(long epochNanos, byte[] frame)
{
}
