// Package layout checks the repository's import boundaries (DESIGN's layout rule):
//
//   - the daemon trees provider/, client/, oracle/ and indexer/ import shared packages only,
//     never another daemon tree (their tests included);
//   - every other tree (chain, contracts, voucher, attest, openai, inference, service, keys,
//     models, …) is shared and never imports a daemon tree;
//   - cmd/ and tests/ may import anything (that cmd/ holds no protocol logic is a review
//     matter, not tested).
//
// The rule is read from `go list` over the whole module, so it holds for trees that do not
// exist yet from the moment they appear; a synthetic module under t.TempDir() proves that the
// check fails when a boundary is crossed.
package layout
