package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// parallel runs fn(0) … fn(n-1) at once and returns their errors joined; the first error cancels
// the others' context.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = fn(ctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// An error caused by another's cancellation says nothing new.
	var out []error
	for _, err := range errs {
		if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return errors.Join(out...)
}

// waitFor polls cond every 100 ms until it holds, fails, or timeout passes; the last error it
// returned (it is called again after one) is part of the timeout's.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("gave up after %v (last error: %w)", timeout, last)
			}
			return fmt.Errorf("gave up after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// joinAnd is "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func bytesEqual(a, b []byte) bool { return bytes.Equal(a, b) }
