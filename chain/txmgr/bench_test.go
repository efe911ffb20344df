package txmgr_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// BenchmarkSend is one transfer through the manager on an instant-mode devnet (no block to wait
// for): the manager's own cost per request, with the journal in memory or in Pebble (two fsynced
// writes per request).
func BenchmarkSend(b *testing.B) {
	for _, journal := range []string{"memory", "pebble"} {
		b.Run(journal, func(b *testing.B) {
			d := openDevnet(b, 0)
			w := newWallet(b, d, "bench-"+journal, ton(1_000_000))
			m := newManager(b, d, w, func(c *txmgr.Config) {
				if journal == "pebble" {
					db, err := txmgr.OpenJournal(filepath.Join(b.TempDir(), "journal"))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = db.Close() })
					c.Journal = db.For(w.Address())
				}
			})
			ctx := context.Background()
			if _, err := m.Send(ctx, txmgr.Request{}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Send(ctx, txmgr.Request{Transfers: []wallet.Transfer{{To: fresh(i), Amount: ton(1)}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
