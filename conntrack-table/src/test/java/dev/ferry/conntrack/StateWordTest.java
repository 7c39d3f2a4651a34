package dev.ferry.conntrack;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The table's short path for a plain ACK on an assured ESTABLISHED connection ({@link StateWord#ackInEstablished})
 * gives what the state machine gives, for every such word, direction and flag byte.
 */
class StateWordTest
{
    @Test
    void ackInEstablishedAgreesWithTheStateMachine()
    {
        int checked = 0;
        for (int st = 0; st <= 0xffff; st++)
        {
            if ((st & StateWord.ESTABLISHED_ASSURED_MASK) != StateWord.ESTABLISHED_ASSURED)
            {
                continue;
            }
            for (int dir = ConntrackTable.ORIGINAL; dir <= ConntrackTable.REPLY; dir++)
            {
                for (int flags = 0; flags <= 0xff; flags++)
                {
                    // what the table's condition admits: ACK without FIN, SYN or RST
                    if ((flags & 0x17) != 0x10)
                    {
                        continue;
                    }
                    final String what = "word " + Integer.toHexString(st) + " dir " + dir + " flags "
                        + Integer.toHexString(flags);
                    assertEquals(TcpState.ACK_SET, TcpState.flagClass(flags), what);
                    assertTrue(TcpState.validFlags(flags), what);
                    final int r = StateWord.trackTcp(st, dir, flags);
                    assertEquals(StateWord.ACCEPT, StateWord.action(r), what);
                    assertEquals(TcpState.ESTABLISHED, StateWord.timeoutSlot(r), what);
                    assertEquals(StateWord.word(r), StateWord.ackInEstablished(st, dir), what);
                    assertEquals(0, (StateWord.word(r) ^ st) & (StateWord.STATE_MASK | StateWord.SEEN_REPLY
                        | StateWord.ASSURED), what + ": no event");
                    checked++;
                }
            }
        }
        assertEquals(1024 * 2 * 16, checked);
    }
}
