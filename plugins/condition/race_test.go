//go:build race

package condition

// The race detector makes sync.Pool drop items at random, so allocation counts of the
// string form are not meaningful under it.
func init() { raceEnabled = true }
