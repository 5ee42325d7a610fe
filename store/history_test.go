package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestHistoryAndRollback(t *testing.T) {
	s, _ := openTest(t, BoltOptions{})
	ctx := WithWriter(context.Background(), "ops")
	s.Put(ctx, KindUpstream, "u1", json.RawMessage(`{"id":"u1","nodes":{}}`), nil)
	s.Put(ctx, KindRoute, "r1", json.RawMessage(`{"id":"r1","uri":"/a","upstream_id":"u1"}`), nil)
	mark := s.Revision()
	_, all0, _ := s.Snapshot(ctx)
	s.Put(ctx, KindRoute, "r1", json.RawMessage(`{"id":"r1","uri":"/b","upstream_id":"u1"}`), nil)
	s.Put(ctx, KindRoute, "r2", json.RawMessage(`{"id":"r2","uri":"/c","upstream_id":"u1"}`), nil)
	s.Delete(ctx, KindUpstream, "u1", nil)

	h, ok := s.History()
	if !ok {
		t.Fatal("bbolt keeps history")
	}
	revs, total, err := h.Revisions(ctx, 0, 2)
	if err != nil || total != 5 || len(revs) != 2 || revs[0].Rev != 5 || revs[1].Rev != 4 {
		t.Fatalf("Revisions = %+v, %d, %v", revs, total, err)
	}
	if c := revs[0].Changes[0]; c.Op != "delete" || c.Kind != KindUpstream || revs[0].Writer != "ops" || c.Before == nil {
		t.Errorf("newest change = %+v by %q", c, revs[0].Writer)
	}
	older, _, _ := h.Revisions(ctx, 4, 10)
	if len(older) != 3 || older[0].Rev != 3 {
		t.Errorf("Revisions before 4 = %+v", older)
	}
	upd, err := h.RevisionAt(ctx, 3)
	if err != nil || upd.Changes[0].Op != "update" || upd.Changes[0].Before == nil || upd.Changes[0].After == nil {
		t.Errorf("RevisionAt(3) = %+v, %v", upd, err)
	}

	newRev, err := s.Rollback(ctx, mark)
	if err != nil || newRev != 6 {
		t.Fatalf("Rollback = %d, %v", newRev, err)
	}
	_, all1, _ := s.Snapshot(ctx)
	for _, k := range []Kind{KindRoute, KindUpstream} {
		if !sameValues(all0[k], all1[k]) {
			t.Errorf("%s after rollback = %v, want %v", k, all1[k], all0[k])
		}
	}
	if _, err := s.Rollback(ctx, 99); !errors.Is(err, ErrInvalid) {
		t.Errorf("rollback to a future revision: %v", err)
	}
}

func sameValues(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		var x, y any
		json.Unmarshal(a[i].Value, &x)
		json.Unmarshal(b[i].Value, &y)
		if a[i].ID != b[i].ID || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func TestRollbackPastHistory(t *testing.T) {
	s, _ := openTest(t, BoltOptions{LogLimit: 2})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		s.Put(ctx, KindRoute, "r", json.RawMessage(`{"uri":"/"}`), nil)
	}
	if _, err := s.Rollback(ctx, 1); !errors.Is(err, ErrCompacted) {
		t.Errorf("rollback past the kept history: %v, want ErrCompacted", err)
	}
}
