// Package pebblelog holds the Pebble logger every store of this module uses: Pebble's informational
// lines (compactions, WAL recycling) stay out of a command's or daemon's output; errors do not.
package pebblelog

import "github.com/cockroachdb/pebble/v2"

// Quiet drops Pebble's Infof lines and passes Errorf and Fatalf to pebble.DefaultLogger.
type Quiet struct{}

func (Quiet) Infof(string, ...any) {}

func (Quiet) Errorf(format string, args ...any) { pebble.DefaultLogger.Errorf(format, args...) }

func (Quiet) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }
