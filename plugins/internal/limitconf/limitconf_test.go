package limitconf

import (
	"context"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins/pluginstest"
)

func TestSleepEndsWithClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := pluginstest.Ctx(t)
	c.R = c.R.WithContext(ctx)
	// An hour's sleep can only end early because the client went away. 30s is a guard
	// against hanging, not a performance bound.
	done := make(chan struct{})
	go func() { defer close(done); Sleep(c, time.Hour) }()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("sleep outlived the client")
	}
}
