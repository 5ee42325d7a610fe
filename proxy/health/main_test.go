package health

import (
	"flag"
	"log/slog"
	"os"
	"testing"
)

// TestMain silences the checkers' state-change logs, which the hammer test makes by the
// thousand; go test -v keeps them.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	os.Exit(m.Run())
}
