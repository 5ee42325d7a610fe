package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Dump is a whole configuration as Export writes it and Import reads it: `portico export`
// from one store, `portico import` into another (bbolt to etcd and back).
type Dump struct {
	// Revision is the source's revision when it was read; Import does not use it.
	Revision int64 `json:"revision"`
	// Items holds every item: kinds in Kinds order (referenced kinds first), each kind in
	// key order, so one configuration always exports to the same bytes.
	Items []DumpItem `json:"items"`
}

// DumpItem is one item of a Dump. Revisions are the store's own and are not carried.
type DumpItem struct {
	Kind  Kind            `json:"kind"`
	ID    string          `json:"id"`
	Value json.RawMessage `json:"value"`
}

// Import writes at most importBatch items or importBytes of values per transaction:
// within etcd's defaults of 128 operations and 1.5 MiB per request.
const (
	importBatch = 50
	importBytes = 1 << 20
)

// Export reads every item of every kind at one revision.
func Export(ctx context.Context, s *Store) (Dump, error) {
	rev, items, err := s.Snapshot(ctx)
	if err != nil {
		return Dump{}, fmt.Errorf("export: %w", err)
	}
	d := Dump{Revision: rev, Items: []DumpItem{}}
	for _, k := range Kinds {
		for _, it := range items[k] {
			d.Items = append(d.Items, DumpItem{Kind: k, ID: it.ID, Value: it.Value})
		}
	}
	return d, nil
}

// Import writes every item of d into s under its own id, value as is (create_time and
// update_time included), replacing an item with the same id and leaving other items alone.
//
// Every item is checked first (a known kind, a valid id, no id twice, a JSON object, then
// validate when not nil); if any fails nothing is written and the error lists every
// failure. Items are then written in d's order, a batch per transaction, so an error
// while writing (the target unreachable) leaves the earlier batches written; importing
// the same dump again completes it.
func Import(ctx context.Context, s *Store, d Dump, validate func(Kind, json.RawMessage) error) error {
	var errs []error
	seen := map[string]bool{}
	for i, it := range d.Items {
		if err := checkDumpItem(it, seen, validate); err != nil {
			errs = append(errs, fmt.Errorf("item %d (%s %s): %w", i, it.Kind, it.ID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("import: nothing written: %w", errors.Join(errs...))
	}
	for from, to := 0, 0; from < len(d.Items); from = to {
		size := 0
		for to = from; to < len(d.Items) && to-from < importBatch; to++ {
			if size += len(d.Items[to].Value); size > importBytes && to > from {
				break
			}
		}
		batch := d.Items[from:to]
		_, err := s.Update(ctx, func(tx Tx) error {
			for _, it := range batch {
				if _, _, err := tx.Put(it.Kind, it.ID, it.Value); err != nil {
					return fmt.Errorf("put %s %s: %w", it.Kind, it.ID, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("import: %d of %d items written: %w", from, len(d.Items), err)
		}
	}
	return nil
}

func checkDumpItem(it DumpItem, seen map[string]bool, validate func(Kind, json.RawMessage) error) error {
	if !it.Kind.Known() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, it.Kind)
	}
	if err := ValidKindID(it.Kind, it.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	key := string(it.Kind) + "/" + it.ID
	if seen[key] {
		return fmt.Errorf("%w: listed twice", ErrInvalid)
	}
	seen[key] = true
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(it.Value, &obj); err != nil || obj == nil {
		return fmt.Errorf("%w: value is not a JSON object", ErrInvalid)
	}
	if validate != nil {
		return validate(it.Kind, it.Value)
	}
	return nil
}
