package dev.ferry.cli;

import dev.ferry.cli.replay.ReplayEngine;

/**
 * The feature modules wired into a replay graph. Plain L3 today; Services and VXLAN plug in here.
 */
final class Features
{
    private Features()
    {
    }

    static ReplayEngine.FeatureFactory forReplay()
    {
        return engine -> ReplayEngine.Features.none();
    }
}
