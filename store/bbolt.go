package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultLogLimit is how many revisions the change log keeps by default.
const DefaultLogLimit = 10000

var (
	metaBucket    = []byte("meta")
	changesBucket = []byte("changes")
	revKey        = []byte("revision")
)

// BoltOptions tunes the bbolt backend.
type BoltOptions struct {
	// LogLimit is how many revisions the change log keeps; 0 means DefaultLogLimit.
	LogLimit int
	// Timeout bounds the wait for the file lock held by another process; 0 means 2s.
	Timeout time.Duration
}

// Bolt is the embedded backend: one bbolt file, one bucket per kind, a revision counter
// and a change log, every write fsynced before Update returns.
type Bolt struct {
	db       *bolt.DB
	logLimit int64
	rev      atomic.Int64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every commit
	closed  bool
}

// OpenBolt opens (creating when absent) the bbolt file at path.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.LogLimit <= 0 {
		opts.LogLimit = DefaultLogLimit
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	b := &Bolt{db: db, logLimit: int64(opts.LogLimit), changed: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{metaBucket, changesBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		for _, k := range Kinds {
			if _, err := tx.CreateBucketIfNotExists([]byte(k)); err != nil {
				return err
			}
		}
		if v := tx.Bucket(metaBucket).Get(revKey); len(v) == 8 {
			b.rev.Store(int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return b, nil
}

// Revision is the newest committed revision.
func (b *Bolt) Revision() int64 { return b.rev.Load() }

// Close closes the file; watches end.
func (b *Bolt) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.changed)
	}
	b.mu.Unlock()
	return b.db.Close()
}

// View runs fn on a read transaction.
func (b *Bolt) View(ctx context.Context, fn func(Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.View(func(tx *bolt.Tx) error {
		return fn(&boltTx{tx: tx, rev: revOf(tx)})
	})
}

// Update runs fn in one bbolt write transaction, records its events in the change log
// under the next revision and commits; bbolt fsyncs before Commit returns.
func (b *Bolt) Update(ctx context.Context, fn func(Tx) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var committed int64
	err := b.db.Update(func(tx *bolt.Tx) error {
		cur := revOf(tx)
		t := &boltTx{tx: tx, rev: cur, next: cur + 1, write: true}
		if err := fn(t); err != nil {
			return err
		}
		if len(t.events) == 0 {
			committed = cur
			return nil
		}
		var rv [8]byte
		binary.BigEndian.PutUint64(rv[:], uint64(t.next))
		if err := tx.Bucket(metaBucket).Put(revKey, rv[:]); err != nil {
			return err
		}
		log, err := json.Marshal(logRecord{Time: time.Now().Unix(), Writer: writerOf(ctx), Events: t.events})
		if err != nil {
			return err
		}
		ch := tx.Bucket(changesBucket)
		if err := ch.Put(rv[:], log); err != nil {
			return err
		}
		if err := pruneLog(ch, t.next-b.logLimit); err != nil {
			return err
		}
		committed = t.next
		return nil
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err != nil {
		return 0, err
	}
	if committed > b.rev.Load() {
		b.rev.Store(committed)
		b.mu.Lock()
		if !b.closed {
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
	}
	return committed, nil
}

// pruneLog drops change-log entries at or below revision upTo.
func pruneLog(ch *bolt.Bucket, upTo int64) error {
	if upTo <= 0 {
		return nil
	}
	c := ch.Cursor()
	for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k)) <= upTo; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Watch follows the change log. See Backend.Watch.
func (b *Bolt) Watch(ctx context.Context, after int64) <-chan WatchResponse {
	out := make(chan WatchResponse, 1)
	go func() {
		defer close(out)
		for {
			b.mu.Lock()
			changed, closed := b.changed, b.closed
			b.mu.Unlock()
			if closed {
				out <- WatchResponse{Rev: after, Err: ErrUnavailable}
				return
			}
			if b.rev.Load() > after {
				resp, err := b.readLog(after)
				if err != nil {
					select {
					case out <- WatchResponse{Rev: after, Err: err}:
					case <-ctx.Done():
					}
					return
				}
				select {
				case out <- resp:
					after = resp.Rev
				case <-ctx.Done():
					return
				}
				continue
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// readLog returns the events of every revision after after, or ErrCompacted.
func (b *Bolt) readLog(after int64) (WatchResponse, error) {
	resp := WatchResponse{Rev: after}
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(changesBucket).Cursor()
		first, _ := c.First()
		if first == nil || int64(binary.BigEndian.Uint64(first)) > after+1 {
			return ErrCompacted
		}
		var from [8]byte
		binary.BigEndian.PutUint64(from[:], uint64(after+1))
		for k, v := c.Seek(from[:]); k != nil; k, v = c.Next() {
			var rec logRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("read change log at %d: %w", binary.BigEndian.Uint64(k), err)
			}
			for _, e := range rec.Events {
				resp.Events = append(resp.Events, e.event())
			}
			resp.Rev = int64(binary.BigEndian.Uint64(k))
		}
		return nil
	})
	return resp, err
}

// logRecord is one revision in the change log.
type logRecord struct {
	Time   int64      `json:"time"`
	Writer string     `json:"writer,omitempty"`
	Events []logEvent `json:"events"`
}

// logEvent is how an event is kept in the change log.
type logEvent struct {
	Op    string          `json:"op"`
	Kind  Kind            `json:"kind"`
	ID    string          `json:"id"`
	Value json.RawMessage `json:"value,omitempty"`
	// Prev is the value a put replaced (none for a create).
	Prev    json.RawMessage `json:"prev,omitempty"`
	Created int64           `json:"created"`
	Mod     int64           `json:"mod"`
}

func (e logEvent) event() Event {
	t := EventPut
	if e.Op == "delete" {
		t = EventDelete
	}
	return Event{Type: t, Item: Item{Kind: e.Kind, ID: e.ID, Value: e.Value, CreatedIndex: e.Created, ModifiedIndex: e.Mod}}
}

func revOf(tx *bolt.Tx) int64 {
	if v := tx.Bucket(metaBucket).Get(revKey); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// boltTx implements Tx. A stored record is created revision (8 bytes), modified
// revision (8 bytes), then the JSON value.
type boltTx struct {
	tx     *bolt.Tx
	rev    int64
	next   int64
	write  bool
	events []logEvent
}

func (t *boltTx) Revision() int64     { return t.rev }
func (t *boltTx) NextRevision() int64 { return t.next }

func (t *boltTx) bucket(k Kind) (*bolt.Bucket, error) {
	bk := t.tx.Bucket([]byte(k))
	if bk == nil {
		return nil, fmt.Errorf("unknown kind %q", k)
	}
	return bk, nil
}

func decodeRecord(k Kind, id string, rec []byte) (Item, error) {
	if len(rec) < 16 {
		return Item{}, fmt.Errorf("read %s/%s: record of %d bytes is corrupt", k, id, len(rec))
	}
	v := make(json.RawMessage, len(rec)-16)
	copy(v, rec[16:]) // bbolt's memory is only valid inside the transaction
	return Item{
		Kind: k, ID: id, Value: v,
		CreatedIndex:  int64(binary.BigEndian.Uint64(rec[0:8])),
		ModifiedIndex: int64(binary.BigEndian.Uint64(rec[8:16])),
	}, nil
}

func (t *boltTx) Get(k Kind, id string) (Item, error) {
	bk, err := t.bucket(k)
	if err != nil {
		return Item{}, err
	}
	rec := bk.Get([]byte(id))
	if rec == nil {
		return Item{}, ErrNotFound
	}
	return decodeRecord(k, id, rec)
}

func (t *boltTx) List(k Kind) ([]Item, error) {
	bk, err := t.bucket(k)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, bk.Stats().KeyN)
	err = bk.ForEach(func(key, rec []byte) error {
		it, err := decodeRecord(k, string(key), rec)
		if err != nil {
			return err
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

func (t *boltTx) Put(k Kind, id string, value json.RawMessage) (Item, bool, error) {
	if !t.write {
		return Item{}, false, errors.New("put in a read transaction")
	}
	bk, err := t.bucket(k)
	if err != nil {
		return Item{}, false, err
	}
	if !json.Valid(value) {
		return Item{}, false, fmt.Errorf("%w: value of %s/%s is not JSON", ErrInvalid, k, id)
	}
	created := t.next
	isNew := true
	var prev json.RawMessage
	if old := bk.Get([]byte(id)); len(old) >= 16 {
		created = int64(binary.BigEndian.Uint64(old[0:8]))
		isNew = false
		prev = append(json.RawMessage(nil), old[16:]...)
	}
	rec := make([]byte, 16+len(value))
	binary.BigEndian.PutUint64(rec[0:8], uint64(created))
	binary.BigEndian.PutUint64(rec[8:16], uint64(t.next))
	copy(rec[16:], value)
	if err := bk.Put([]byte(id), rec); err != nil {
		return Item{}, false, fmt.Errorf("put %s/%s: %w", k, id, err)
	}
	v := append(json.RawMessage(nil), value...)
	t.events = append(t.events, logEvent{Op: "put", Kind: k, ID: id, Value: v, Prev: prev, Created: created, Mod: t.next})
	return Item{Kind: k, ID: id, Value: v, CreatedIndex: created, ModifiedIndex: t.next}, isNew, nil
}

func (t *boltTx) Delete(k Kind, id string) (Item, error) {
	if !t.write {
		return Item{}, errors.New("delete in a read transaction")
	}
	bk, err := t.bucket(k)
	if err != nil {
		return Item{}, err
	}
	rec := bk.Get([]byte(id))
	if rec == nil {
		return Item{}, ErrNotFound
	}
	it, err := decodeRecord(k, id, rec)
	if err != nil {
		return Item{}, err
	}
	if err := bk.Delete([]byte(id)); err != nil {
		return Item{}, fmt.Errorf("delete %s/%s: %w", k, id, err)
	}
	t.events = append(t.events, logEvent{Op: "delete", Kind: k, ID: id, Value: it.Value, Created: it.CreatedIndex, Mod: t.next})
	return it, nil
}
