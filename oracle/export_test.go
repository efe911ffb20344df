package oracle

import "context"

// FindUptimeTx exposes findUptimeTx to the package's external tests: the LT and hash of the oracle
// wallet's transaction that sent its root for epoch (0, nil when not found).
func (o *Oracle) FindUptimeTx(ctx context.Context, epoch uint32, root []byte) (uint64, []byte) {
	if tx := o.findUptimeTx(ctx, epoch, root); tx != nil {
		return tx.LT, tx.Hash
	}
	return 0, nil
}
