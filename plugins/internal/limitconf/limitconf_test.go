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
	cancel()
	start := time.Now()
	Sleep(c, time.Hour)
	if time.Since(start) > time.Second {
		t.Fatal("sleep outlived the client")
	}
}
