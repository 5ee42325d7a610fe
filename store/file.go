package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrReadOnly: the backend serves a file and takes no writes.
var ErrReadOnly = errors.New("configuration is read-only: it comes from a standalone file")

// FileOptions configures the standalone file backend.
type FileOptions struct {
	// Validate checks one item beyond its schema (plugins, references); a file with
	// one invalid item is refused whole.
	Validate func(k Kind, id string, value json.RawMessage, all map[Kind]map[string]json.RawMessage) error
	// Poll is how often the file's modification time is checked; 0 means 1s.
	Poll time.Duration
	// Log reports reloads and refused files; nil logs nothing.
	Log func(msg string, args ...any)
}

// File serves APISIX's standalone configuration file (apisix.yaml ending with a
// "#END" line, or apisix.json) read-only, reloading it when it changes. A file that
// does not parse or validate is refused and the last good one keeps serving.
type File struct {
	path string
	opts FileOptions

	mu      sync.RWMutex
	items   map[Kind][]Item
	rev     atomic.Int64
	changed chan struct{}
	mtime   time.Time
	size    int64
	stop    chan struct{}
	closed  bool
}

// fileKinds maps the file's top-level keys to kinds.
var fileKinds = map[string]Kind{
	"routes": KindRoute, "services": KindService, "upstreams": KindUpstream,
	"consumers": KindConsumer, "consumer_groups": KindConsumerGroup, "ssls": KindSSL,
	"global_rules": KindGlobalRule, "plugin_configs": KindPluginConfig, "plugin_metadata": KindPluginMetadata,
}

// OpenFile loads the file; it fails when the file is missing, broken or invalid.
func OpenFile(path string, opts FileOptions) (*File, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	f := &File{path: path, opts: opts, changed: make(chan struct{}), stop: make(chan struct{})}
	if err := f.reload(); err != nil {
		return nil, err
	}
	go f.poll()
	return f, nil
}

// LoadFile parses and validates a standalone file without serving it.
func LoadFile(path string, validate func(Kind, string, json.RawMessage, map[Kind]map[string]json.RawMessage) error) (map[Kind][]Item, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFile(path, b, validate)
}

func (f *File) reload() error {
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	items, err := parseFile(f.path, b, f.opts.Validate)
	f.mu.Lock()
	f.mtime, f.size = st.ModTime(), st.Size()
	if err == nil {
		rev := f.rev.Add(1)
		for _, l := range items {
			for i := range l {
				l[i].CreatedIndex, l[i].ModifiedIndex = rev, rev
			}
		}
		f.items = items
		close(f.changed)
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
	return err
}

func (f *File) poll() {
	t := time.NewTicker(f.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		st, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		f.mu.RLock()
		same := st.ModTime().Equal(f.mtime) && st.Size() == f.size
		f.mu.RUnlock()
		if same {
			continue
		}
		if err := f.reload(); err != nil {
			if f.opts.Log != nil {
				f.opts.Log("standalone file refused; the last good configuration keeps serving", "path", f.path, "err", err)
			}
		} else if f.opts.Log != nil {
			f.opts.Log("standalone file reloaded", "path", f.path, "revision", f.rev.Load())
		}
	}
}

var envRef = regexp.MustCompile(`\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::=\s*([^}]*?))?\s*\}\}`)

// parseFile reads APISIX's standalone format: a YAML file must end with a "#END" line
// (else it is taken as half-written); `${{NAME}}` and `${{NAME:=default}}` are replaced
// from the environment; an item without id gets "arr_<n>", 1-based.
func parseFile(path string, b []byte, validate func(Kind, string, json.RawMessage, map[Kind]map[string]json.RawMessage) error) (map[Kind][]Item, error) {
	var missing []string
	b = envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(sub[1])); ok {
			return []byte(v)
		}
		if bytes.Contains(m, []byte(":=")) {
			return sub[2]
		}
		missing = append(missing, string(sub[1]))
		return m
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: environment variable %s is not set", path, strings.Join(missing, ", "))
	}
	var doc map[string]any
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else {
		trimmed := strings.TrimRight(string(b), " \t\r\n")
		if !strings.HasSuffix(trimmed, "#END") {
			return nil, fmt.Errorf(`%s: the file does not end with a "#END" line, so it may be half-written`, path)
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	raw := map[Kind]map[string]json.RawMessage{}
	out := map[Kind][]Item{}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == "plugins" || strings.HasSuffix(key, "_conf_version") {
			continue
		}
		kind, ok := fileKinds[key]
		if !ok {
			return nil, fmt.Errorf("%s: unknown top-level key %q", path, key)
		}
		list, ok := doc[key].([]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be a list", path, key)
		}
		raw[kind] = map[string]json.RawMessage{}
		for i, v := range list {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %s[%d] must be an object", path, key, i)
			}
			idField := "id"
			if kind == KindConsumer {
				idField = "username"
			}
			id := fmt.Sprint(obj[idField])
			if obj[idField] == nil {
				id = fmt.Sprintf("arr_%d", i+1)
				if kind != KindConsumer {
					obj["id"] = id
				}
			}
			if err := ValidID(id); err != nil {
				return nil, fmt.Errorf("%s: %s[%d]: %v", path, key, i, err)
			}
			value, err := json.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("%s: %s[%d]: %w", path, key, i, err)
			}
			if _, err := DecodeKind(kind, value); err != nil {
				return nil, fmt.Errorf("%s: %s %s: invalid configuration: %v", path, kind.Singular(), id, err)
			}
			if _, dup := raw[kind][id]; dup {
				return nil, fmt.Errorf("%s: %s %s appears twice", path, kind.Singular(), id)
			}
			raw[kind][id] = value
			out[kind] = append(out[kind], Item{Kind: kind, ID: id, Value: value})
		}
		sort.Slice(out[kind], func(a, b int) bool { return out[kind][a].ID < out[kind][b].ID })
	}
	if validate != nil {
		for _, k := range Kinds {
			for _, it := range out[k] {
				if err := validate(k, it.ID, it.Value, raw); err != nil {
					return nil, fmt.Errorf("%s: %s %s: %v", path, k.Singular(), it.ID, err)
				}
			}
		}
	}
	return out, nil
}

// Revision counts the loads of the file.
func (f *File) Revision() int64 { return f.rev.Load() }

// View reads the last good file.
func (f *File) View(ctx context.Context, fn func(Reader) error) error {
	f.mu.RLock()
	r := &fileReader{items: f.items, rev: f.rev.Load()}
	f.mu.RUnlock()
	return fn(r)
}

// Update refuses: the file is the only source.
func (f *File) Update(ctx context.Context, fn func(Tx) error) (int64, error) {
	return 0, ErrReadOnly
}

// Watch reports each reload as a compaction, so the watcher re-reads everything.
func (f *File) Watch(ctx context.Context, after int64) <-chan WatchResponse {
	out := make(chan WatchResponse, 1)
	go func() {
		defer close(out)
		f.mu.RLock()
		ch, rev := f.changed, f.rev.Load()
		f.mu.RUnlock()
		if rev == after {
			select {
			case <-ch:
			case <-ctx.Done():
				return
			case <-f.stop:
				out <- WatchResponse{Rev: after, Err: ErrUnavailable}
				return
			}
		}
		select {
		case out <- WatchResponse{Rev: after, Err: ErrCompacted}:
		case <-ctx.Done():
		}
	}()
	return out
}

// Close stops watching the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.stop)
	}
	return nil
}

type fileReader struct {
	items map[Kind][]Item
	rev   int64
}

func (r *fileReader) Get(k Kind, id string) (Item, error) {
	for _, it := range r.items[k] {
		if it.ID == id {
			return it, nil
		}
	}
	return Item{}, ErrNotFound
}

func (r *fileReader) List(k Kind) ([]Item, error) {
	return append([]Item(nil), r.items[k]...), nil
}

func (r *fileReader) Revision() int64 { return r.rev }
