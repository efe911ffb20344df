//go:build unix

package demo

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// A port FreePort returned is this process's until it exits: not returned again, not reservable by
// another process while this one lives, and free again once it is killed.
func TestFreePortReservedAcrossProcesses(t *testing.T) {
	if os.Getenv("DEMO_RESERVE_CHILD") != "" {
		p, err := FreePort()
		if err != nil {
			panic(err)
		}
		fmt.Println(p)
		select {} // holds the reservation until killed
	}
	seen := map[int]bool{}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] || reservePort(p) {
			t.Fatalf("port %d handed out twice in one process", p)
		}
		seen[p] = true
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFreePortReservedAcrossProcesses$")
	cmd.Env = append(os.Environ(), "DEMO_RESERVE_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("the child printed no port")
	}
	port, err := strconv.Atoi(sc.Text())
	if err != nil {
		t.Fatal(sc.Text())
	}
	if reservePort(port) {
		t.Fatalf("port %d reserved here while the child holds it", port)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !reservePort(port) {
		t.Fatalf("port %d still reserved after the child was killed", port)
	}
}
