package filelogger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/portico-gw/portico/internal/logutil"
	"github.com/portico-gw/portico/plugins"
)

const name = "file-logger"

// Spec registers file-logger.
var Spec = plugins.Spec{Name: name, Priority: 399,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is file-logger's configuration, with APISIX's field names.
type Config struct {
	Path  string          `json:"path"`
	Match json.RawMessage `json:"match,omitempty"`
	logutil.Fields
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if _, err := logutil.CompileMatch(c.Match); err != nil {
		return err
	}
	if c.Path == "" {
		return errors.New(`property "path" is not set in either the plugin conf or the metadata`)
	}
	return c.Fields.Validate()
}

// checkEvery bounds how often the writer stats path to notice a rotation.
var checkEvery = time.Second

// Plugin is built once per snapshot; it owns the file and the writer goroutine.
type Plugin struct {
	*logutil.Builder
	b    *logutil.Batcher
	path string

	// owned by the writer goroutine
	f       *os.File
	checked time.Time
}

// New builds the instance and starts its writer. The file is opened on the first write.
func New(c *Config) (*Plugin, error) {
	match, err := logutil.CompileMatch(c.Match)
	if err != nil {
		return nil, err
	}
	bld, err := logutil.NewBuilder(&c.Fields, logutil.Options{Match: match})
	if err != nil {
		return nil, err
	}
	p := &Plugin{Builder: bld, path: c.Path}
	p.b = logutil.NewBatcher(logutil.BatcherOptions{Plugin: name, MaxSize: 1000, Send: p.write})
	return p, nil
}

// Log queues the request's line.
func (p *Plugin) Log(c *plugins.Ctx) {
	if e, ok := p.Entry(c); ok {
		p.b.Push(e)
	}
}

// Close writes what is queued and closes the file.
func (p *Plugin) Close() error {
	p.b.Close(5 * time.Second)
	if p.f != nil {
		return p.f.Close()
	}
	return nil
}

// Dropped is how many lines were dropped.
func (p *Plugin) Dropped() uint64 { return p.b.Dropped() }

func (p *Plugin) write(_ context.Context, entries [][]byte) error {
	if err := p.open(); err != nil {
		return err
	}
	if _, err := p.f.Write(logutil.Lines(entries, '\n', true)); err != nil {
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

// open opens path, or reopens it when it no longer names the open file.
func (p *Plugin) open() error {
	now := time.Now()
	if p.f != nil {
		if now.Sub(p.checked) < checkEvery {
			return nil
		}
		p.checked = now
		st, err := os.Stat(p.path)
		if err == nil {
			if cur, err := p.f.Stat(); err == nil && os.SameFile(st, cur) {
				return nil
			}
		}
		p.f.Close()
		p.f = nil
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", p.path, err)
	}
	p.f, p.checked = f, now
	return nil
}

var (
	_ plugins.AccessPhase     = (*Plugin)(nil)
	_ plugins.BodyFilterPhase = (*Plugin)(nil)
	_ plugins.LogPhase        = (*Plugin)(nil)
	_ plugins.Closer          = (*Plugin)(nil)
)
