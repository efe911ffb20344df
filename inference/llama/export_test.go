package llama

// Test-only exports for the external test package (default model benchmarks).
var (
	CPUTime      = cpuTime
	ReportTokens = reportTokens
)
