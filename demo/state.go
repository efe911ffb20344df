package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// StateFile is the network's record in its data directory.
const StateFile = "demo.json"

// stateVersion changes when a data directory of an older layout can no longer be resumed.
const stateVersion = 1

// State is what a network keeps between runs besides the daemons' own data: when it was made,
// its registry, and the ports its daemons listen on (the providers' endpoints are on-chain, so
// they keep their ports).
type State struct {
	Version int            `json:"version"`
	Created time.Time      `json:"created"`
	Block   string         `json:"block_interval"`
	Ports   map[string]int `json:"ports"`
	// Registry is the registry's raw address once deployed.
	Registry string `json:"registry,omitempty"`
}

// prepareDir wipes dir when fresh (only a demo's data directory or an empty one) and reads the
// state found there (nil: a new network).
func prepareDir(dir string, fresh bool) (*State, error) {
	path := filepath.Join(dir, StateFile)
	_, statErr := os.Stat(path)
	if fresh {
		entries, err := os.ReadDir(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		case len(entries) > 0 && statErr != nil:
			return nil, fmt.Errorf("--fresh wipes the data directory, and %s holds no demo network (no %s): choose another --data", dir, StateFile)
		default:
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("failed to wipe %s: %w", dir, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s is not empty and holds no demo network (no %s): choose another --data", dir, StateFile)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (start a new network with --fresh)", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s was written by another version of the demo (layout %d, this one %d): start a new network with --fresh", path, st.Version, stateVersion)
	}
	if st.Ports == nil {
		st.Ports = map[string]int{}
	}
	return &st, nil
}

// save writes the state (atomically: a crash leaves the old or the new file).
func (s *State) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// port returns the port kept under name, or picks one: preferred when it is free, else any free
// one, and keeps it.
func (s *State) port(name string, preferred int) (int, error) {
	if p, ok := s.Ports[name]; ok {
		return p, nil
	}
	p, err := pickPort(preferred)
	if err != nil {
		return 0, err
	}
	s.Ports[name] = p
	return p, nil
}

// pickPort is preferred when nothing listens on it, else a free port below the kernel's
// ephemeral range.
func pickPort(preferred int) (int, error) {
	if preferred > 0 {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(preferred)); err == nil {
			l.Close()
			return preferred, nil
		}
	}
	return FreePort()
}

// FreePort is a loopback port nothing listens on now, for a process started later. It is drawn
// below Linux's ephemeral range (32768–60999): a port the kernel hands out for ":0" or to an
// outgoing connection could be taken again between the pick and the process's bind. The port is
// also reserved (reservePort) for as long as this process runs, so that two processes picking at
// once (test packages run in parallel) never both get it.
func FreePort() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if !reservePort(port) {
			continue
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkFree fails when something listens on addr already (another demo, another program).
func checkFree(what, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %s (%v): is another demo running? Stop it, or choose other ports", what, addr, err)
	}
	return l.Close()
}

// resolveListen turns host:0 into host:<a free port>.
func resolveListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
