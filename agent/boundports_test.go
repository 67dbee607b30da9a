package agent

import (
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
)

// TestBoundPorts reads this process's own sockets: a TCP listener and a
// UDP socket bound below the ephemeral range are held ports; a UDP socket
// that only sent (an ephemeral port picked by the kernel) and a TCP
// client's connection are not.
func TestBoundPorts(t *testing.T) {
	eph := ephemeralPorts()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var udp *net.UDPConn
	for p := 20000; p < int(eph[0]) && udp == nil; p++ {
		udp, _ = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
	}
	if udp == nil {
		t.Skip("no free UDP port below the ephemeral range")
	}
	defer udp.Close()
	sender, err := net.ListenUDP("udp", nil) // port 0: the kernel picks
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	sender.WriteTo([]byte("x"), udp.LocalAddr())
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var got []string
	for _, b := range boundPorts([]uint32{uint32(os.Getpid())}, eph) {
		if b.pid != uint32(os.Getpid()) {
			t.Errorf("port held by pid %d", b.pid)
		}
		got = append(got, strconv.Itoa(int(b.port))+"/"+b.protocol)
	}
	tcp := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/tcp"
	u := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port) + "/udp"
	if !slices.Contains(got, tcp) || !slices.Contains(got, u) {
		t.Errorf("held ports %v, want %s and %s among them", got, tcp, u)
	}
	for _, not := range []string{strconv.Itoa(sender.LocalAddr().(*net.UDPAddr).Port) + "/udp", strconv.Itoa(client.LocalAddr().(*net.TCPAddr).Port) + "/tcp"} {
		if slices.Contains(got, not) {
			t.Errorf("held ports %v include %s, a port the kernel picked", got, not)
		}
	}
}
