package dev.ferry.core;

import java.util.List;

/**
 * What a stage is, without building it: its name, its next edges and the reasons it may drop a packet for. A
 * stage whose edges depend on its wiring gets them from the same arguments it is built with.
 *
 * @param name        the stage name.
 * @param nextNames   the names of its next edges.
 * @param dropReasons every reason it may drop a packet for.
 */
public record StageInfo(String name, List<String> nextNames, List<? extends DropReason> dropReasons)
{
    /**
     * @param name        the stage name.
     * @param nextNames   the names of its next edges.
     * @param dropReasons every reason it may drop a packet for.
     */
    public StageInfo
    {
        nextNames = List.copyOf(nextNames);
        dropReasons = List.copyOf(dropReasons);
    }

    /**
     * @param stage a built stage.
     * @return its description.
     */
    public static StageInfo of(final Stage stage)
    {
        return new StageInfo(stage.name(), stage.nextNames(), stage.dropReasons());
    }
}
