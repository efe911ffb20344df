package provider

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// storeChildEnv makes the test binary the writer TestStoreKillNine kills.
const storeChildEnv = "COCOON_TEST_STORE_CHILD"

func init() {
	dir := os.Getenv(storeChildEnv)
	if dir == "" {
		return
	}
	// The child: synced writes, one after the other, each reported once it is durable, until killed.
	s, err := openStore(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	val := make([]byte, 1024)
	for i := 0; ; i++ {
		if err := s.db.Set([]byte(fmt.Sprintf("k/%08d", i)), val, pebble.Sync); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

// A store killed with SIGKILL keeps every write it synced, in its first (zero-filled, see walFS)
// write-ahead log and in the logs after it (recycled), and opens again.
func TestStoreKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	for _, n := range []int{50, 12_000} { // within the first log; past two memtable rotations
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), storeChildEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			last := -1
			sc := bufio.NewScanner(out)
			for last < n && sc.Scan() {
				i, err := strconv.Atoi(sc.Text())
				require.NoError(t, err, "child: %s", sc.Text())
				last = i
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()

			s, err := openStore(dir)
			require.NoError(t, err)
			defer s.close()
			for i := 0; i <= last; i++ {
				_, closer, err := s.db.Get([]byte(fmt.Sprintf("k/%08d", i)))
				require.NoError(t, err, "synced write %d of %d lost", i, last)
				_ = closer.Close()
			}
		})
	}
}

// The logs Pebble creates are laid out full size (walFS); the store works across rotations.
func TestWALFilledAtCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := openStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.db.Set([]byte("a"), []byte("b"), pebble.Sync))
	logs, _ := filepath.Glob(filepath.Join(dir, "store", "*.log"))
	require.NotEmpty(t, logs)
	fi, err := os.Stat(logs[len(logs)-1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, fi.Size(), int64(4<<20), "the write-ahead log was not laid out")
	require.NoError(t, s.close())
	s, err = openStore(dir)
	require.NoError(t, err)
	v, closer, err := s.db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "b", string(v))
	_ = closer.Close()
	require.NoError(t, s.close())
}

// A channel record is written as json.Marshal writes it.
func TestChannelRecordJSON(t *testing.T) {
	for _, r := range []channelRecord{
		{Owed: "0", ClientKey: "ab01"},
		{Owed: "123456789012345678901234567890", Voucher: "te5ccgEBAQEAUQAAnnZvdWOAFVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVUBfXhAAAAAAAAAAAAAAAAAAAAA.AbC-_9",
			PromptTokens: 1 << 63, CompletionTokens: 42, Receipts: 7, ClientKey: "00ff"},
		{Owed: "1", Voucher: "a\"b\\c<d>&\n\u2028é", ClientKey: "<x>"},
	} {
		want, err := json.Marshal(&r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(r.appendJSON(nil)))
	}
}
