package txmgr

import "time"

// Metricer receives what the manager does; NoopMetrics ignores it.
type Metricer interface {
	// RecordSigned counts every signed message, with the reason it was signed.
	RecordSigned(reason Reason)
	// RecordSubmitted counts every message the node accepted (the same bytes again included).
	RecordSubmitted(seqno uint32)
	// RecordIncluded is a request whose wallet transaction was found, with the time since its
	// first message was signed.
	RecordIncluded(latency time.Duration)
	// RecordFailed is a request given up (no message of it can be included any more).
	RecordFailed()
}

// NoopMetrics is a Metricer that records nothing.
type NoopMetrics struct{}

func (NoopMetrics) RecordSigned(Reason)          {}
func (NoopMetrics) RecordSubmitted(uint32)       {}
func (NoopMetrics) RecordIncluded(time.Duration) {}
func (NoopMetrics) RecordFailed()                {}
