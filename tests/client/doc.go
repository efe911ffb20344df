// Package client holds the client's end-to-end tests: the SDK and the gateway against the other
// daemons running for real (the indexer for discovery; the provider daemon for paid inference).
package client
