//go:build !unix

package demo

// reservePort reserves nothing where flock is not available.
func reservePort(int) bool { return true }
