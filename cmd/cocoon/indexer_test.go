package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
	"github.com/cocoon-go/cocoon/indexer/store"
)

// TestIndexerKilledMidIngestionE2E: `cocoon indexer run` as a real process, reading a prepared
// devnet history over the devnet's toncenter API, is killed with SIGKILL in the middle of its
// ingestion and started again; once caught up, its store holds exactly what a clean ingestion of
// the same history (in-process, never interrupted) holds, key for key: no gap, no duplicate.
func TestIndexerKilledMidIngestionE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := indexertest.New(t, indexertest.Options{})
	w := indexertest.Scenario(n)
	n.ManyClaims(w.Alice, 8, 50)
	srv := &devnet.Server{Devnet: n.D, Listen: "127.0.0.1:0"}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	rpc := "http://" + srv.Addr()

	dir := filepath.Join(t.TempDir(), "killed")
	listen := freePort(t)
	args := []string{"indexer", "run", "--rpc", rpc, "--registry", w.Registry.String(), "--data", dir, "--listen", listen,
		"--poll", "50ms", "--page-size", "8", "--workers", "2", "--log-level", "debug"}

	// First run: killed after its 20th committed batch.
	first := cocoonProcess(ctx, args...)
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var firstLog bytes.Buffer
	batches := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		firstLog.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "msg=ingested") {
			batches++
			if batches == 20 {
				if err := first.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	_ = first.Wait()
	if batches < 20 {
		t.Fatalf("the first run ended after %d batches, before it could be killed:\n%s", batches, firstLog.String())
	}
	if strings.Contains(firstLog.String(), "caught up") {
		t.Fatalf("the first run caught up before the kill; the history is too short:\n%s", firstLog.String())
	}

	// Second run: resumes from the cursors and catches up.
	second := cocoonProcess(ctx, args...)
	var secondLog syncBuffer
	second.Stderr = &secondLog
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	var status struct {
		Synced       bool `json:"synced"`
		Transactions int  `json:"transactions"`
		Mismatches   int  `json:"mismatches"`
	}
	for deadline := time.Now().Add(time.Minute); ; {
		status.Synced = false
		if resp, err := http.Get("http://" + listen + "/api/v1/status"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&status)
			resp.Body.Close()
		}
		if status.Synced {
			break
		}
		if time.Now().After(deadline) {
			_ = second.Process.Kill()
			t.Fatalf("the second run did not catch up:\n%s", secondLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("the second run did not stop cleanly: %v\n%s", err, secondLog.String())
	}
	if status.Mismatches != 0 {
		t.Fatalf("%d replayed states differed from the contracts' storage", status.Mismatches)
	}

	// The same history ingested once, in-process, without interruption.
	cleanDir := filepath.Join(t.TempDir(), "clean")
	clean, err := store.Open(cleanDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	f, err := follow.New(follow.Config{Chain: n.D.Client(), Store: clean, Registry: w.Registry})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	killed, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer killed.Close()
	want, got := dump(t, clean), dump(t, killed)
	if status.Transactions < 800 {
		t.Fatalf("only %d transactions indexed: the history is not the one prepared", status.Transactions)
	}
	if len(want) != len(got) {
		t.Errorf("the resumed store has %d keys, a clean ingestion %d", len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing after the restart: key %s", k)
		} else if g != v {
			t.Errorf("differs after the restart: key %s\n got %s\nwant %s", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extra after the restart: key %s", k)
		}
	}
}

func dump(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	if err := s.Each(func(k, v []byte) error {
		m[fmt.Sprintf("%c:%s", k[0], hex.EncodeToString(k[1:]))] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}
