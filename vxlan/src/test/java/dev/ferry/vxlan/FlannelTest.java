package dev.ferry.vxlan;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FlannelTest
{
    @Test
    void shouldDefaultToKernelPort8472AndVni1()
    {
        final Flannel.NetConf c = Flannel.parseNetConf(
            "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}");
        assertThat(c.port()).isEqualTo(8472);
        assertThat(c.vni()).isEqualTo(1);
        assertThat(c.network().toString()).isEqualTo("10.244.0.0/16");
    }

    @Test
    void shouldTakeExplicitIanaPortAndVni()
    {
        final Flannel.NetConf c = Flannel.parseNetConf(
            "{\"Network\": \"10.42.0.0/16\", \"Backend\": {\"Type\": \"vxlan\", \"Port\": 4789, \"VNI\": 4096}}");
        assertThat(c.port()).isEqualTo(4789);
        assertThat(c.vni()).isEqualTo(4096);
    }

    @Test
    void shouldRefuseOtherBackendsAndBadJsonClearly()
    {
        assertThatThrownBy(() -> Flannel.parseNetConf("{\"Network\": \"10.244.0.0/16\", \"Backend\": "
            + "{\"Type\": \"host-gw\"}}")).hasMessageContaining("host-gw");
        assertThatThrownBy(() -> Flannel.parseNetConf("{\"Network\": ")).hasMessageContaining("invalid JSON");
    }

    @Test
    void shouldReadNodeAnnotationsAsFlannelWritesThem()
    {
        final Map<String, String> a = Map.of(
            "flannel.alpha.coreos.com/backend-type", "vxlan",
            "flannel.alpha.coreos.com/backend-data", "{\"VNI\":1,\"VtepMAC\":\"6e:3c:1a:2b:4d:5f\"}",
            "flannel.alpha.coreos.com/kube-subnet-manager", "true",
            "flannel.alpha.coreos.com/public-ip", "192.168.50.2");
        final Flannel.NodeVtep v = Flannel.parseNode("node-2", a, "10.244.2.0/24");
        assertThat(v.vtepMac()).isEqualTo(Ip4.parseMac("6e:3c:1a:2b:4d:5f"));
        assertThat(v.publicIp()).isEqualTo(Ip4.parse("192.168.50.2"));
        assertThat(v.vni()).isEqualTo(1);
        final NodeTables.RemoteNode r = v.toRemoteNode(0, List.of(v.publicIp()));
        assertThat(r.podCidr().toString()).isEqualTo("10.244.2.0/24");
        assertThat(Flannel.parseNode("node-2", Flannel.annotations(1, v.vtepMac(), v.publicIp()), "10.244.2.0/24"))
            .isEqualTo(v);
    }

    @Test
    void shouldNameNodeAndAnnotationWhenMissing()
    {
        final Map<String, String> a = new HashMap<>(Flannel.annotations(1, 0x66L, Ip4.parse("10.0.0.2")));
        a.remove(Flannel.PUBLIC_IP);
        assertThatThrownBy(() -> Flannel.parseNode("n9", a, "10.244.9.0/24"))
            .hasMessageContaining("n9").hasMessageContaining("public-ip");
        a.put(Flannel.PUBLIC_IP, "10.0.0.2");
        a.put(Flannel.BACKEND_DATA, "{\"VNI\":1,\"VtepMAC\":\"zz\"}");
        assertThatThrownBy(() -> Flannel.parseNode("n9", a, "10.244.9.0/24")).hasMessageContaining("n9")
            .hasMessageContaining("MAC");
    }

    @Test
    void shouldRouteRemotePodCidrsAtTheVtepsThatAnnotationsDescribe()
    {
        // node-2 as flannel annotated it; the VTEP table and FIB of node 1 are built from that
        final Flannel.NodeVtep v = Flannel.parseNode("node-2",
            Flannel.annotations(1, VxlanNode.VTEP2, VxlanNode.NODE2), "10.244.2.0/24");
        final NodeTables base = VxlanNode.tables(1, 8472, 1500, VxlanNode.UPLINK2);
        final NodeTables t = new NodeTables(2, base.node(), base.cluster(), base.pods(),
            List.of(v.toRemoteNode(VxlanNode.UPLINK2, List.of(v.publicIp()))), List.of(), Map.of());
        try (VxlanNode n1 = VxlanNode.of(t, VxlanSettings.defaults()))
        {
            assertThat(n1.publisher.current().fib().routeLines())
                .contains("10.244.2.0/24 remote-pod vxlan to node-2 (192.168.50.2)");
            assertThat(n1.publisher.current().<VtepTable>part(n1.slot).lines()).containsExactly(
                "10.244.2.0/24 via vtep 192.168.50.2 mac 66:22:22:22:22:02 node node-2 underlay 02:00:00:00:02:02");
            n1.receive(n1.podPort, Frames.podToPod(1, 2, 10, false));
            assertThat(Frames.mac(n1.sent.get(0).bytes(), 50)).isEqualTo(VxlanNode.VTEP2);
            assertThat(n1.pool.available()).isEqualTo(n1.pool.capacity());
        }
    }
}
