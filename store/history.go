package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

type writerKey struct{}

// WithWriter names who writes in ctx (an admin key's name); the change log records it.
func WithWriter(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, writerKey{}, name)
}

func writerOf(ctx context.Context) string {
	s, _ := ctx.Value(writerKey{}).(string)
	return s
}

// Revision is one committed write as the history shows it.
type Revision struct {
	Rev     int64    `json:"revision"`
	Time    int64    `json:"time"`
	Writer  string   `json:"writer,omitempty"`
	Changes []Change `json:"changes"`
}

// Change is what one write did to one item.
type Change struct {
	Op     string          `json:"op"` // "create", "update" or "delete"
	Kind   Kind            `json:"kind"`
	ID     string          `json:"id"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// History is implemented by backends that keep their change log with the values each
// write replaced, so writes can be listed and rolled back.
type History interface {
	// Revisions returns up to limit revisions, newest first, older than before (0: the
	// newest), and how many the log holds.
	Revisions(ctx context.Context, before int64, limit int) ([]Revision, int, error)
	// RevisionAt returns one revision, or ErrNotFound when the log no longer holds it.
	RevisionAt(ctx context.Context, rev int64) (Revision, error)
}

func (e logEvent) change() Change {
	switch {
	case e.Op == "delete":
		return Change{Op: "delete", Kind: e.Kind, ID: e.ID, Before: e.Value}
	case e.Prev == nil:
		return Change{Op: "create", Kind: e.Kind, ID: e.ID, After: e.Value}
	}
	return Change{Op: "update", Kind: e.Kind, ID: e.ID, Before: e.Prev, After: e.Value}
}

func recordRevision(k, v []byte) (Revision, error) {
	var rec logRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Revision{}, fmt.Errorf("read change log at %d: %w", binary.BigEndian.Uint64(k), err)
	}
	r := Revision{Rev: int64(binary.BigEndian.Uint64(k)), Time: rec.Time, Writer: rec.Writer}
	for _, e := range rec.Events {
		r.Changes = append(r.Changes, e.change())
	}
	return r, nil
}

// Revisions lists the change log, newest first.
func (b *Bolt) Revisions(ctx context.Context, before int64, limit int) (out []Revision, total int, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(changesBucket)
		total = bk.Stats().KeyN
		c := bk.Cursor()
		var k, v []byte
		if before > 0 {
			var from [8]byte
			binary.BigEndian.PutUint64(from[:], uint64(before))
			k, v = c.Seek(from[:])
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			r, err := recordRevision(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, total, err
}

// RevisionAt returns one revision of the change log.
func (b *Bolt) RevisionAt(ctx context.Context, rev int64) (r Revision, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], uint64(rev))
		v := tx.Bucket(changesBucket).Get(key[:])
		if v == nil {
			return ErrNotFound
		}
		r, err = recordRevision(key[:], v)
		return err
	})
	return r, err
}

// History returns the backend's history, if it keeps one.
func (s *Store) History() (History, bool) {
	h, ok := s.b.(History)
	return h, ok
}

// Rollback restores the configuration as it was right after revision rev, as one new
// revision: every change made after rev is undone, newest first. It fails with
// ErrCompacted when the history no longer reaches back to rev.
func (s *Store) Rollback(ctx context.Context, rev int64) (int64, error) {
	h, ok := s.History()
	if !ok {
		return 0, fmt.Errorf("this store keeps no history")
	}
	// read the history first: a write transaction must not wait on a read of its own
	cur := s.b.Revision()
	if rev < 0 || rev > cur {
		return 0, fmt.Errorf("%w: revision %d is not between 0 and the current %d", ErrInvalid, rev, cur)
	}
	var undo []Revision
	for r := cur; r > rev; r-- {
		one, err := h.RevisionAt(ctx, r)
		if err == ErrNotFound {
			return 0, fmt.Errorf("%w: revision %d is no longer in the history", ErrCompacted, r)
		}
		if err != nil {
			return 0, err
		}
		undo = append(undo, one)
	}
	return s.b.Update(ctx, func(tx Tx) error {
		if tx.Revision() != cur {
			return ErrConflict
		}
		for _, one := range undo {
			for i := len(one.Changes) - 1; i >= 0; i-- {
				ch := one.Changes[i]
				var err error
				switch ch.Op {
				case "create":
					_, err = tx.Delete(ch.Kind, ch.ID)
					if err == ErrNotFound {
						err = nil
					}
				default: // update, delete: the value before comes back
					_, _, err = tx.Put(ch.Kind, ch.ID, ch.Before)
				}
				if err != nil {
					return fmt.Errorf("undo revision %d: %w", one.Rev, err)
				}
			}
		}
		return nil
	})
}
