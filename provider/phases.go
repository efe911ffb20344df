package provider

// The phases of a paid non-streamed request, timed in the benchmark's profiling build (-tags
// cocoon_pprof, phases_pprof.go: GET /debug/phases on the pprof listener gives each phase's p50
// and p90); in every other build the marks are empty and the calls do nothing.
const (
	phaseArrived   = iota // servePaid starts (headers read)
	phaseBodyRead         // the body is read
	phaseChecked          // the payment headers checked: voucher, channel, authorization
	phaseParsed           // the OpenAI request decoded and validated (Begin starts)
	phaseAdmitted         // the admission rule applied
	phaseGenerated        // the backend answered, the answer encoded (Deliver starts)
	phaseDelivered        // the answer's content hashed (Finish starts)
	phaseBilled           // the owed total in the journal (synced in the background)
	phaseSigned           // the receipt signed and encoded
	phaseWritten          // the answer written (End starts)
	phaseEnded            // the handler returns
	numPhases
)
