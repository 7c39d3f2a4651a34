package dev.ferry.node;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.attribute.UserPrincipal;

/**
 * Who may talk to the node's API: root, or the user the node runs as. The socket's mode (0600) keeps others
 * from connecting at all; the peer credentials ({@code SO_PEERCRED}) are checked as well, in case the mode is
 * loosened or the socket is passed on.
 */
final class PeerCredentials
{
    private final UserPrincipal root;
    private final UserPrincipal self;

    PeerCredentials(final UserPrincipal root, final UserPrincipal self)
    {
        this.root = root;
        this.self = self;
    }

    /**
     * @param self the node's own user (the owner of the socket file).
     * @return the check for this system.
     * @throws IOException when root cannot be looked up.
     */
    static PeerCredentials forSelf(final UserPrincipal self) throws IOException
    {
        return new PeerCredentials(FileSystems.getDefault().getUserPrincipalLookupService()
            .lookupPrincipalByName("root"), self);
    }

    /**
     * @param peer the connecting process's user, or null when the system did not say.
     * @return whether it may use the API.
     */
    boolean allowed(final UserPrincipal peer)
    {
        return peer != null && (peer.equals(root) || peer.equals(self));
    }

    /**
     * @param peer the refused user.
     * @return why it is refused.
     */
    String refusal(final UserPrincipal peer)
    {
        return "permission denied: user " + (peer == null ? "(unknown)" : peer.getName())
            + " is neither root nor " + self.getName();
    }
}
