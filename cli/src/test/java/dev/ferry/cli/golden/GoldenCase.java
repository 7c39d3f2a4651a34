package dev.ferry.cli.golden;

import dev.ferry.cli.scenario.Scenario;

/**
 * One golden replay case, Snabb lwaftr style: an input made by code, a cluster and a node, and (on disk,
 * in {@code src/test/golden/<name>/}) the expected output pcap and counters.
 *
 * @param name        directory name, kebab-case, grouped by a prefix (arp-, svc-, vxlan-, bad-, ...).
 * @param description one sentence: the path the case exercises and what should happen.
 * @param manifests   the manifests directory, relative to the case directory.
 * @param node        the node whose graph runs the capture.
 * @param input       writes the input frames.
 */
record GoldenCase(String name, String description, String manifests, String node, Input input)
{
    /** The shared two-node cluster, node-a: every case so far runs there. */
    static final String TWO_NODE = "../clusters/two-node";

    /** Writes a case's frames onto a scenario timeline. */
    @FunctionalInterface
    interface Input
    {
        void write(Scenario s);
    }

    static GoldenCase onNodeA(final String name, final String description, final Input input)
    {
        return new GoldenCase(name, description, TWO_NODE, "node-a", input);
    }

    /** @return the text of the case's {@code cluster} file. */
    String clusterFile()
    {
        return "# " + description + "\nmanifests=" + manifests + "\nnode=" + node + "\n";
    }
}
