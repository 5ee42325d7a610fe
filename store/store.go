package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kind names a resource collection as it appears in the Admin API path and the etcd key.
type Kind string

// The resource kinds, named as APISIX names them.
const (
	KindRoute          Kind = "routes"
	KindService        Kind = "services"
	KindUpstream       Kind = "upstreams"
	KindConsumer       Kind = "consumers"
	KindConsumerGroup  Kind = "consumer_groups"
	KindPluginConfig   Kind = "plugin_configs"
	KindGlobalRule     Kind = "global_rules"
	KindPluginMetadata Kind = "plugin_metadata"
	KindSSL            Kind = "ssls"
	KindWasmModule     Kind = "wasm_modules"
	// KindCredential items are ids "<username>/<credential id>", kept under the
	// consumer's key as APISIX does: /apisix/consumers/<username>/credentials/<id>.
	KindCredential Kind = "credentials"
)

// Kinds lists every kind, in the order a snapshot is built (referenced kinds first).
var Kinds = []Kind{
	KindUpstream, KindService, KindPluginConfig, KindConsumerGroup, KindConsumer,
	KindGlobalRule, KindPluginMetadata, KindSSL, KindWasmModule, KindRoute, KindCredential,
}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Singular is the kind's name in APISIX's messages ("route", "plugin config", …).
func (k Kind) Singular() string {
	switch k {
	case KindPluginMetadata:
		return "plugin_metadata" // apisix/admin/plugin_metadata.lua: kind
	case KindSSL:
		return "ssl"
	}
	s := strings.TrimSuffix(string(k), "s")
	return strings.ReplaceAll(s, "_", " ")
}

// Key is the APISIX key of an item, "/apisix/routes/1".
func Key(k Kind, id string) string {
	if k == KindCredential {
		user, cid, _ := strings.Cut(id, "/")
		return "/apisix/consumers/" + user + "/credentials/" + cid
	}
	return "/apisix/" + string(k) + "/" + id
}

// ValidKindID checks an id of kind k: a consumer's is its username (APISIX: up to 256
// characters of [a-zA-Z0-9_-]; ValidID's ids are taken too), a credential's two parts
// are a username and an id.
func ValidKindID(k Kind, id string) error {
	switch k {
	case KindConsumer:
		return validUsernameID(id)
	case KindCredential:
		user, cid, ok := strings.Cut(id, "/")
		if !ok {
			return fmt.Errorf("invalid credential id %q: want <username>/<id>", id)
		}
		if err := validUsernameID(user); err != nil {
			return err
		}
		return ValidID(cid)
	}
	return ValidID(id)
}

func validUsernameID(id string) error {
	if ValidID(id) == nil || usernamePattern.MatchString(id) {
		return nil
	}
	return fmt.Errorf("invalid username %q: want 1 to 256 characters of [a-zA-Z0-9_-]", id)
}

// CredentialID joins a consumer's username and a credential id into a credential's id.
func CredentialID(username, id string) string { return username + "/" + id }

// Sentinel errors; the Admin API maps them to statuses with errors.Is.
var (
	// ErrNotFound: no item of that kind has that id.
	ErrNotFound = errors.New("key not found")
	// ErrConflict: the item changed between read and write (PATCH's compare-and-swap).
	ErrConflict = errors.New("value changed before overwritten")
	// ErrReferenced: a delete was refused because another item still uses the target.
	ErrReferenced = errors.New("still referenced")
	// ErrInvalid: the value is not a valid resource; the wrapped message names the problem.
	ErrInvalid = errors.New("invalid configuration")
	// ErrUnavailable: the backend cannot serve the call now (closed, unreachable).
	ErrUnavailable = errors.New("store unavailable")
	// ErrCompacted: a watch asked for revisions the change log no longer holds.
	ErrCompacted = errors.New("required revision has been compacted")
)

// Item is one stored resource: its raw JSON value and its revisions.
type Item struct {
	Kind          Kind            `json:"-"`
	ID            string          `json:"-"`
	Value         json.RawMessage `json:"value"`
	CreatedIndex  int64           `json:"createdIndex"`
	ModifiedIndex int64           `json:"modifiedIndex"`
}

// Key is the item's APISIX key.
func (it Item) Key() string { return Key(it.Kind, it.ID) }

// EventType says what happened to an item.
type EventType int

const (
	// EventPut: the item was created or replaced; Event.Item holds the new value.
	EventPut EventType = iota + 1
	// EventDelete: the item was deleted; Event.Item holds the last value.
	EventDelete
)

func (t EventType) String() string {
	if t == EventDelete {
		return "delete"
	}
	return "put"
}

// Event is one change inside a committed revision.
type Event struct {
	Type EventType
	Item Item
}

// WatchResponse carries the events of one or more revisions, oldest first.
type WatchResponse struct {
	// Rev is the newest revision the response covers.
	Rev    int64
	Events []Event
	// Err is set when the watch ended; ErrCompacted means: reload with Snapshot.
	Err error
}

// Reader reads within one consistent view of the store.
type Reader interface {
	// Get returns the item, or ErrNotFound.
	Get(k Kind, id string) (Item, error)
	// List returns a kind's items in key order.
	List(k Kind) ([]Item, error)
	// Revision is the revision this view reads at.
	Revision() int64
}

// Tx is one atomic write. Everything it does commits as one revision, or not at all.
type Tx interface {
	Reader
	// Put creates or replaces an item with value as given; it keeps the create revision
	// of an item it replaces. It reports whether the item was created.
	Put(k Kind, id string, value json.RawMessage) (it Item, created bool, err error)
	// Delete removes an item, returning its last value, or ErrNotFound.
	Delete(k Kind, id string) (Item, error)
	// NextRevision is the revision this transaction commits as.
	NextRevision() int64
}

// Backend is what a storage engine implements; Store adds resource semantics on top.
type Backend interface {
	// View runs fn on a consistent read view.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in one write transaction and commits it durably; a transaction
	// that changed nothing commits nothing. It returns the committed revision.
	Update(ctx context.Context, fn func(Tx) error) (int64, error)
	// Revision is the newest committed revision.
	Revision() int64
	// Watch sends every change after revision after until ctx ends. The channel is closed
	// when the watch ends; the last response then carries Err.
	Watch(ctx context.Context, after int64) <-chan WatchResponse
	Close() error
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidID checks an id against APISIX's id rule; ".." is refused too so an id can never
// read as a path step.
func ValidID(id string) error {
	if !idPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("invalid id %q: want 1 to 64 characters of [A-Za-z0-9._-], without \"..\"", id)
	}
	return nil
}
