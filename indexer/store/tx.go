package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Tx reads a transaction by its hash (hex).
func (s *Store) Tx(hash string) (*decode.Tx, error) {
	h, err := hex.DecodeString(hash)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("bad transaction hash %q: want 64 hex digits", hash)
	}
	return s.txByRef(key(pHash, h))
}

// txByRef reads the transaction whose (addr, lt) is stored under index key k.
func (s *Store) txByRef(k []byte) (*decode.Tx, error) {
	ref, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	tk := key(pTx, ref)
	closer.Close()
	return s.txByKey(tk)
}

// TxAt reads the transaction of an account at lt.
func (s *Store) TxAt(raw string, lt uint64) (*decode.Tx, error) {
	ak, err := addrKey(raw)
	if err != nil {
		return nil, err
	}
	return s.txByKey(key(pTx, ak, be64(lt)))
}

func (s *Store) txByKey(k []byte) (*decode.Tx, error) {
	var tx decode.Tx
	ok, err := getJSON(s.db, k, &tx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return &tx, nil
}

// Txs lists an account's transactions newest first, below beforeLT (0: from the newest), at most limit.
func (s *Store) Txs(raw string, beforeLT uint64, limit int) ([]*decode.Tx, error) {
	ak, err := addrKey(raw)
	if err != nil {
		return nil, err
	}
	var out []*decode.Tx
	err = scan(s.db, key(pTx, ak), true, func(k, v []byte) (bool, error) {
		if beforeLT != 0 && binary.BigEndian.Uint64(k[34:]) >= beforeLT {
			return true, nil
		}
		var tx decode.Tx
		if err := json.Unmarshal(v, &tx); err != nil {
			return false, err
		}
		out = append(out, &tx)
		return len(out) < limit, nil
	})
	return out, err
}

// Received finds the transaction that received the message src sent at createdLT.
func (s *Store) Received(src string, createdLT uint64) (*decode.Tx, error) {
	sk, err := addrKey(src)
	if err != nil {
		return nil, err
	}
	return s.txByRef(key(pRecv, sk, be64(createdLT)))
}

// Sent finds the transaction of src that sent its message created at createdLT.
func (s *Store) Sent(src string, createdLT uint64) (*decode.Tx, error) {
	sk, err := addrKey(src)
	if err != nil {
		return nil, err
	}
	h, closer, err := s.db.Get(key(pSent, sk, be64(createdLT)))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	hash := hex.EncodeToString(h)
	closer.Close()
	return s.Tx(hash)
}
