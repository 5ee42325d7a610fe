package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Store gives resource semantics (timestamps, generated ids, filters, paging,
// compare-and-swap patches, checked deletes) over a Backend. It is safe for concurrent use.
type Store struct {
	b Backend
	// Now returns the time written into create_time and update_time; tests may replace it.
	Now func() time.Time
}

// New wraps a backend.
func New(b Backend) *Store { return &Store{b: b, Now: time.Now} }

// Backend returns the engine under the store.
func (s *Store) Backend() Backend { return s.b }

// Revision is the newest committed revision.
func (s *Store) Revision() int64 { return s.b.Revision() }

// Watch streams every change after revision after; see Backend.Watch.
func (s *Store) Watch(ctx context.Context, after int64) <-chan WatchResponse {
	return s.b.Watch(ctx, after)
}

// View runs fn on a consistent read view.
func (s *Store) View(ctx context.Context, fn func(Reader) error) error { return s.b.View(ctx, fn) }

// Update runs fn as one durable transaction.
func (s *Store) Update(ctx context.Context, fn func(Tx) error) (int64, error) {
	return s.b.Update(ctx, fn)
}

// Close releases the backend.
func (s *Store) Close() error { return s.b.Close() }

// Get returns one item or ErrNotFound.
func (s *Store) Get(ctx context.Context, k Kind, id string) (it Item, err error) {
	err = s.b.View(ctx, func(r Reader) error {
		it, err = r.Get(k, id)
		return err
	})
	return it, err
}

// Snapshot returns every item of every kind at one revision.
func (s *Store) Snapshot(ctx context.Context) (rev int64, items map[Kind][]Item, err error) {
	items = make(map[Kind][]Item, len(Kinds))
	err = s.b.View(ctx, func(r Reader) error {
		rev = r.Revision()
		for _, k := range Kinds {
			l, err := r.List(k)
			if err != nil {
				return fmt.Errorf("list %s: %w", k, err)
			}
			items[k] = l
		}
		return nil
	})
	return rev, items, err
}

// Query selects and pages a list, with APISIX v3's semantics: filters first (AND-ed),
// then, when both Page and PageSize are set, sort by createdIndex and slice.
type Query struct {
	Name  *regexp.Regexp // matched anywhere in value.name
	Label *string        // keeps items whose labels have this key (APISIX: "" too, so none)
	URI   *regexp.Regexp // matched anywhere in value.uri or one of value.uris
	// Fields keeps items whose top-level field equals the string (e.g. service_id).
	Fields   map[string]string
	Page     int
	PageSize int
}

// List returns the items of a kind that pass q and the number that passed before paging.
func (s *Store) List(ctx context.Context, k Kind, q Query) (items []Item, total int, err error) {
	err = s.b.View(ctx, func(r Reader) error {
		items, err = r.List(k)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if q.Name != nil || q.Label != nil || q.URI != nil || len(q.Fields) > 0 {
		kept := items[:0:0]
		for _, it := range items {
			if q.keeps(it) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	total = len(items)
	if q.Page > 0 && q.PageSize > 0 {
		slices.SortStableFunc(items, func(a, b Item) int {
			switch {
			case a.CreatedIndex < b.CreatedIndex:
				return -1
			case a.CreatedIndex > b.CreatedIndex:
				return 1
			}
			return 0
		})
		from := (q.Page - 1) * q.PageSize
		if from >= len(items) {
			return []Item{}, total, nil
		}
		items = items[from:min(from+q.PageSize, len(items))]
	}
	return items, total, nil
}

func (q *Query) keeps(it Item) bool {
	var v struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		URI    string            `json:"uri"`
		URIs   []string          `json:"uris"`
	}
	if json.Unmarshal(it.Value, &v) != nil {
		return false
	}
	if q.Name != nil && !q.Name.MatchString(v.Name) {
		return false
	}
	if q.Label != nil {
		if _, ok := v.Labels[*q.Label]; !ok {
			return false
		}
	}
	if q.URI != nil && !q.URI.MatchString(v.URI) && !slices.ContainsFunc(v.URIs, q.URI.MatchString) {
		return false
	}
	if len(q.Fields) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(it.Value, &m) != nil {
			return false
		}
		for f, want := range q.Fields {
			var got string
			if json.Unmarshal(m[f], &got) != nil || got != want {
				return false
			}
		}
	}
	return true
}

// Check runs inside a write transaction before anything is written; its error aborts
// the write and is returned as is. A nil Check checks nothing.
type Check func(r Reader) error

// ErrDryRun is what a Check returns to have the write computed and answered but rolled
// back; the write then returns the item it would have stored and ErrDryRun.
var ErrDryRun = errors.New("dry run: nothing stored")

// Put creates or replaces an item. It sets create_time (kept from the item it replaces)
// and update_time. It reports whether the item was created.
func (s *Store) Put(ctx context.Context, k Kind, id string, value json.RawMessage, check Check) (it Item, created bool, err error) {
	if err := ValidKindID(k, id); err != nil {
		return Item{}, false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := s.Now().Unix()
	var rev int64
	rev, err = s.b.Update(ctx, func(tx Tx) (err error) {
		// cerr, not err: dryRun must see the named result, which a shadowing err hides
		if cerr := runCheck(check, tx); cerr == ErrDryRun {
			defer dryRun(&err)
		} else if cerr != nil {
			return cerr
		}
		createTime := now
		if old, err := tx.Get(k, id); err == nil {
			if t, ok := int64Field(old.Value, "create_time"); ok {
				createTime = t
			}
		} else if err != ErrNotFound {
			return err
		}
		v := value
		if k != KindPluginMetadata { // APISIX stamps no plugin metadata (resource.lua)
			if v, err = SetFields(value, map[string]any{"create_time": createTime, "update_time": now}); err != nil {
				return err
			}
		}
		it, created, err = tx.Put(k, id, v)
		return err
	})
	it = committed(it, rev, created, err)
	return it, created, err
}

// committed sets the indexes of a written item to the revision its transaction committed
// as (a backend may only know a provisional one inside the transaction).
func committed(it Item, rev int64, created bool, err error) Item {
	if err != nil || rev <= 0 {
		return it
	}
	it.ModifiedIndex = rev
	if created {
		it.CreatedIndex = rev
	}
	return it
}

func runCheck(c Check, r Reader) error {
	if c == nil {
		return nil
	}
	return c(r)
}

// dryRun turns a successful write into ErrDryRun, which rolls the transaction back.
func dryRun(err *error) {
	if *err == nil {
		*err = ErrDryRun
	}
}

// Create stores a new item under a generated id: the revision of this write as 20
// zero-padded digits, as APISIX does. The id is written into the value.
func (s *Store) Create(ctx context.Context, k Kind, value json.RawMessage, check Check) (it Item, err error) {
	now := s.Now().Unix()
	var rev int64
	rev, err = s.b.Update(ctx, func(tx Tx) (err error) {
		// cerr, not err: dryRun must see the named result, which a shadowing err hides
		if cerr := runCheck(check, tx); cerr == ErrDryRun {
			defer dryRun(&err)
		} else if cerr != nil {
			return cerr
		}
		id := fmt.Sprintf("%020d", tx.NextRevision())
		if _, etcd := s.b.(*Etcd); etcd {
			// etcd's generated ids are unique across nodes and retried when taken
		} else if _, gerr := tx.Get(k, id); gerr == nil {
			// an imported item may hold an id this store's counter has not reached yet
			return fmt.Errorf("%w: generated id %s is taken", ErrConflict, id)
		}
		v, err := SetFields(value, map[string]any{"id": id, "create_time": now, "update_time": now})
		if err != nil {
			return err
		}
		it, _, err = tx.Put(k, id, v)
		return err
	})
	it = committed(it, rev, true, err)
	return it, err
}

// Patch replaces an existing item with what fn makes of it, inside one transaction so no
// write can come between the read and the write. fn sees the stored item; its result is
// stored with create_time kept (unless fn's value sets one) and update_time set to now,
// unless keepUpdateTime.
// fn may return ErrDryRun with a value to have it answered but not stored.
func (s *Store) Patch(ctx context.Context, k Kind, id string, fn func(r Reader, old Item) (value json.RawMessage, keepUpdateTime bool, err error)) (it Item, err error) {
	now := s.Now().Unix()
	var rev int64
	rev, err = s.b.Update(ctx, func(tx Tx) (err error) {
		old, err := tx.Get(k, id)
		if err != nil {
			return err
		}
		v, keep, err := fn(tx, old)
		if err == ErrDryRun {
			defer dryRun(&err)
		} else if err != nil {
			return err
		}
		fields := map[string]any{}
		// a create_time the patch sets stands (APISIX t/admin/upstream4.t TEST 12)
		if _, set := int64Field(v, "create_time"); !set {
			if t, ok := int64Field(old.Value, "create_time"); ok {
				fields["create_time"] = t
			}
		}
		if !keep {
			fields["update_time"] = now
		}
		if v, err = SetFields(v, fields); err != nil {
			return err
		}
		it, _, err = tx.Put(k, id, v)
		return err
	})
	it = committed(it, rev, false, err)
	return it, err
}

// Delete removes an item. check, when not nil, runs inside the transaction first and can
// refuse (for reference checks); its error is returned as is.
func (s *Store) Delete(ctx context.Context, k Kind, id string, check Check) (it Item, err error) {
	_, err = s.b.Update(ctx, func(tx Tx) error {
		if _, err := tx.Get(k, id); err != nil {
			return err
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if it, err = tx.Delete(k, id); err != nil {
			return err
		}
		if k == KindConsumer {
			// a consumer's credentials go with it, as in APISIX
			creds, err := tx.List(KindCredential)
			if err != nil {
				return err
			}
			for _, c := range creds {
				if strings.HasPrefix(c.ID, id+"/") {
					if _, err := tx.Delete(KindCredential, c.ID); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return it, err
}

// SetFields returns the JSON object value with the given top-level fields set.
func SetFields(value json.RawMessage, fields map[string]any) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: value is not a JSON object", ErrInvalid)
	}
	for f, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", f, err)
		}
		m[f] = b
	}
	return json.Marshal(m)
}

func int64Field(value json.RawMessage, name string) (int64, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(value, &m) != nil {
		return 0, false
	}
	var n int64
	if raw, ok := m[name]; !ok || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}
