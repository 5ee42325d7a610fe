package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// EtcdOptions configures OpenEtcd.
type EtcdOptions struct {
	// Endpoints are the etcd client URLs, "http://127.0.0.1:2379".
	Endpoints []string
	// Prefix is the key prefix, as APISIX's deployment.etcd.prefix; empty means "/apisix".
	Prefix string
	// Username and Password authenticate to etcd when Username is set.
	Username string
	Password string
	// TLS, when set, is used for the client connection.
	TLS *tls.Config
	// DialTimeout bounds OpenEtcd's first read (and etcd's authentication); 0 means 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each read and each commit, so a write fails fast with
	// ErrUnavailable while etcd is unreachable; 0 means 2s.
	RequestTimeout time.Duration
	// Retries is how many times Update reruns its function after a conflicting commit
	// before giving up with ErrConflict; 0 means 16.
	Retries int
}

// Etcd is the cluster backend: APISIX's key layout in etcd, so Portico nodes and an
// existing APISIX installation can share one configuration.
//
// # Layout
//
// An item is the key <prefix>/<kind>/<id> holding the JSON value exactly as APISIX stores
// it; createdIndex and modifiedIndex are the key's etcd create and mod revisions. A
// credential "<user>/<id>" is `<prefix>/consumers/<user>/credentials/<id>`, as in APISIX.
// Keys that are not items are skipped when reading: the `<prefix>/<kind>/` init_dir
// placeholders, other nested keys, values that are not JSON, kinds Portico does not know. Two keys besides items are written: `<prefix>/gen_id`, as
// APISIX writes it, and `<prefix>/portico/deleted/<kind>` (see Update).
//
// # Revisions and POST ids
//
// Revisions are etcd's. A transaction's commit revision is only known after it commits,
// so Tx.NextRevision does what APISIX's push does: it puts `<prefix>/gen_id` (value 1)
// on its own and returns the revision of that put. Each etcd revision belongs to one write,
// so the ids are unique across every Portico and APISIX node writing the same etcd; they
// are below the revision the item is then created at. The put is not undone when the
// transaction fails or is a dry run: a used-up revision, nothing else.
//
// Items returned by Tx.Put carry provisional indexes (the read revision + 1 where etcd has
// not assigned them yet); the committed revision is what Update returns.
type Etcd struct {
	cli      *clientv3.Client
	prefix   string // without a trailing slash
	timeout  time.Duration
	retries  int
	rev      atomic.Int64
	closed   atomic.Bool
	closeCtx context.Context
	stop     context.CancelFunc
}

var _ Backend = (*Etcd)(nil) // interface guard

// OpenEtcd connects to etcd and reads once, so a node with no reachable etcd fails at
// start, as APISIX does.
func OpenEtcd(ctx context.Context, opts EtcdOptions) (*Etcd, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("open etcd: no endpoints")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/apisix"
	}
	prefix := "/" + strings.Trim(opts.Prefix, "/")
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	if opts.Retries <= 0 {
		opts.Retries = 16
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		Username:    opts.Username,
		Password:    opts.Password,
		TLS:         opts.TLS,
		DialTimeout: opts.DialTimeout,
		// errors reach the caller; the client's own retry warnings would only be noise
		Logger: zap.NewNop(),
		// gRPC's default reconnect backoff grows to 120s; after an outage the node
		// should be writable again within a couple of seconds of etcd coming back
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: opts.DialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd %v: %w: %v", opts.Endpoints, ErrUnavailable, err)
	}
	closeCtx, stop := context.WithCancel(context.Background())
	e := &Etcd{cli: cli, prefix: prefix, timeout: opts.RequestTimeout, retries: opts.Retries,
		closeCtx: closeCtx, stop: stop}
	rctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	resp, err := cli.Get(rctx, e.genIDKey(), clientv3.WithKeysOnly())
	if err != nil {
		stop()
		cli.Close()
		return nil, fmt.Errorf("open etcd %v: %w: %v", opts.Endpoints, ErrUnavailable, err)
	}
	e.seen(resp.Header.Revision)
	return e, nil
}

// Client is the underlying etcd client, for tests and tools.
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// Prefix is the key prefix, without a trailing slash.
func (e *Etcd) Prefix() string { return e.prefix }

// Revision is the newest etcd revision this backend has seen in a read, a commit or a
// watch; it does not ask etcd.
func (e *Etcd) Revision() int64 { return e.rev.Load() }

// Close closes the client; watches end with ErrUnavailable.
func (e *Etcd) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.stop()
	return e.cli.Close()
}

func (e *Etcd) seen(rev int64) {
	for {
		cur := e.rev.Load()
		if rev <= cur || e.rev.CompareAndSwap(cur, rev) {
			return
		}
	}
}

func (e *Etcd) genIDKey() string { return e.prefix + "/gen_id" }

// dirKey is the key range holding a kind's items; credentials live under their consumer.
func (e *Etcd) dirKey(k Kind) string {
	if k == KindCredential {
		k = KindConsumer
	}
	return e.prefix + "/" + string(k) + "/"
}

func (e *Etcd) markerKey(k Kind) string {
	return e.prefix + "/portico/deleted/" + string(k)
}

func (e *Etcd) itemKey(k Kind, id string) string {
	if k == KindCredential {
		user, cid, _ := strings.Cut(id, "/")
		return e.prefix + "/consumers/" + user + "/credentials/" + cid
	}
	return e.dirKey(k) + id
}

// parseKey splits an item key; ok is false for every key that is not an item.
func (e *Etcd) parseKey(key []byte) (k Kind, id string, ok bool) {
	rest, found := bytes.CutPrefix(key, []byte(e.prefix+"/"))
	if !found {
		return "", "", false
	}
	parts := strings.Split(string(rest), "/")
	for _, p := range parts {
		if p == "" {
			return "", "", false
		}
	}
	switch {
	case len(parts) == 2 && Kind(parts[0]).Known() && Kind(parts[0]) != KindCredential:
		return Kind(parts[0]), parts[1], true
	case len(parts) == 4 && Kind(parts[0]) == KindConsumer && parts[2] == "credentials":
		return KindCredential, CredentialID(parts[1], parts[3]), true
	}
	return "", "", false
}

// callCtx bounds one etcd call by the request timeout and by Close.
func (e *Etcd) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	stop := context.AfterFunc(e.closeCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// errRetry marks a transaction attempt that must be run again: a commit that lost a
// compare, a read revision compacted away, a generated id already taken.
var errRetry = errors.New("etcd transaction must be retried")

// wrap turns an etcd client error into a store error. The caller's own cancellation is
// returned as is; everything else the client reports (timeouts, no leader, refused
// connections, auth) means etcd cannot serve the call now.
func (e *Etcd) wrap(ctx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%s: %w: %w", what, errRetry, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%s: %w: %v", what, ErrInvalid, err)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%s: %w", what, err)
	case e.closed.Load():
		return fmt.Errorf("%s: %w: closed", what, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: etcd: %v", what, ErrUnavailable, err)
}

// View runs fn on a read view at one etcd revision, fixed by its first read.
func (e *Etcd) View(ctx context.Context, fn func(Reader) error) error {
	var err error
	for attempt := 0; attempt <= e.retries; attempt++ {
		v := e.newTx(ctx, false)
		err = fn(v)
		if v.err != nil {
			err = v.err
		}
		if !errors.Is(err, errRetry) {
			return err
		}
	}
	return fmt.Errorf("read: %w", err)
}

// Update runs fn optimistically and commits what it wrote as one etcd transaction.
//
// fn runs against a view at one revision R (fixed by its first read) that records what
// it read; its writes are buffered and read back by later reads. The commit is one Txn
// that succeeds only when nothing fn read has changed since R:
//
//   - every key read with Get: ModRevision == its mod revision at R, or, when it was
//     absent, CreateRevision == 0;
//   - every kind read with List: ModRevision < R+1 over the kind's whole key range (any
//     key created or changed after R fails it), and the kind's deletion marker
//     `<prefix>/portico/deleted/<kind>` unchanged since R (a deletion leaves no key for a
//     range compare to see, so every transaction that deletes an item of a kind also puts
//     that kind's marker). Deletions made by writers other than Portico do not move the
//     marker; a List is then only checked against their creations and changes.
//
// Two compares per listed kind keep a transaction within etcd's --max-txn-ops (128)
// however many items a check lists; a key of a listed kind that was only read, not
// written, is left to those two. On a lost compare fn is run again on a fresh view,
// up to Retries times with a short jittered pause, then ErrConflict. A transaction that
// wrote nothing commits nothing and returns its read revision.
func (e *Etcd) Update(ctx context.Context, fn func(Tx) error) (int64, error) {
	if e.closed.Load() {
		return 0, fmt.Errorf("update: %w: closed", ErrUnavailable)
	}
	var err error
	for attempt := 0; attempt <= e.retries; attempt++ {
		if attempt > 0 {
			pause := time.Duration(rand.Int64N(int64(time.Duration(attempt) * 5 * time.Millisecond)))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		t := e.newTx(ctx, true)
		err = fn(t)
		if t.err != nil {
			err = t.err
		}
		if err == nil {
			var rev int64
			if rev, err = t.commit(); err == nil {
				return rev, nil
			}
		}
		if !errors.Is(err, errRetry) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("update: %d attempts lost to concurrent writers: %w", e.retries+1, ErrConflict)
}

// etcdTx is a read view and, for Update, a write buffer. It implements Tx.
type etcdTx struct {
	e     *Etcd
	ctx   context.Context
	write bool
	rev   int64 // 0 until the first read fixes it
	err   error // sticky: the first etcd failure, returned by Update whatever fn did

	reads  map[string]readKey // keys read at rev
	lists  map[Kind]int64     // listed kinds: the marker's mod revision at rev (0: absent)
	writes map[string]*bufWrite
	order  []string // keys of writes, in first-write order
	genID  int64
}

// readKey is a key as read at the view's revision.
type readKey struct {
	kind     Kind
	item     *Item // nil: absent, or a value that is not JSON
	mod      int64 // the key's mod revision; 0: absent
	compared bool  // read by Get (not only listed): compared at commit
}

type bufWrite struct {
	kind  Kind
	id    string
	value json.RawMessage // nil: delete
	old   *Item           // the item at the view's revision; nil when absent
}

func (e *Etcd) newTx(ctx context.Context, write bool) *etcdTx {
	return &etcdTx{e: e, ctx: ctx, write: write, reads: map[string]readKey{},
		lists: map[Kind]int64{}, writes: map[string]*bufWrite{}}
}

func (t *etcdTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// get reads at the view's revision, fixing it on the first read.
func (t *etcdTx) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	ctx, cancel := t.e.callCtx(t.ctx)
	defer cancel()
	resp, err := t.e.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, t.fail(t.e.wrap(t.ctx, "read "+key, err))
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
		t.e.seen(t.rev)
	}
	return resp, nil
}

// Revision is the revision this view reads at; asking fixes it.
func (t *etcdTx) Revision() int64 {
	if t.rev == 0 {
		t.get(t.e.genIDKey(), clientv3.WithKeysOnly())
	}
	return t.rev
}

func toItem(k Kind, id string, kv *mvccpb.KeyValue) *Item {
	return &Item{Kind: k, ID: id, Value: json.RawMessage(kv.Value),
		CreatedIndex: kv.CreateRevision, ModifiedIndex: kv.ModRevision}
}

func readOf(k Kind, id string, kv *mvccpb.KeyValue) readKey {
	r := readKey{kind: k, mod: kv.ModRevision}
	if json.Valid(kv.Value) {
		r.item = toItem(k, id, kv)
	}
	return r
}

// stored is the item in etcd at the view's revision, read once and then compared at commit.
func (t *etcdTx) stored(k Kind, id string) (*Item, error) {
	key := t.e.itemKey(k, id)
	r, ok := t.reads[key]
	if !ok {
		resp, err := t.get(key)
		if err != nil {
			return nil, err
		}
		r = readKey{kind: k}
		if len(resp.Kvs) == 1 {
			r = readOf(k, id, resp.Kvs[0])
		}
	}
	r.compared = true
	t.reads[key] = r
	return r.item, nil
}

// current is the item as this transaction sees it: its own writes over etcd.
func (t *etcdTx) current(k Kind, id string) (*Item, error) {
	if w, ok := t.writes[t.e.itemKey(k, id)]; ok {
		if w.value == nil {
			return nil, nil
		}
		return t.buffered(w), nil
	}
	return t.stored(k, id)
}

// buffered is a pending write as an Item with provisional indexes.
func (t *etcdTx) buffered(w *bufWrite) *Item {
	it := &Item{Kind: w.kind, ID: w.id, Value: w.value, CreatedIndex: t.rev + 1, ModifiedIndex: t.rev + 1}
	if w.old != nil {
		it.CreatedIndex = w.old.CreatedIndex
	}
	return it
}

func (t *etcdTx) Get(k Kind, id string) (Item, error) {
	if !k.Known() {
		return Item{}, fmt.Errorf("unknown kind %q", k)
	}
	it, err := t.current(k, id)
	if err != nil {
		return Item{}, err
	}
	if it == nil {
		return Item{}, ErrNotFound
	}
	return *it, nil
}

func (t *etcdTx) List(k Kind) ([]Item, error) {
	if !k.Known() {
		return nil, fmt.Errorf("unknown kind %q", k)
	}
	resp, err := t.get(t.e.dirKey(k), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	if _, ok := t.lists[k]; t.write && !ok {
		m, err := t.get(t.e.markerKey(k), clientv3.WithKeysOnly())
		if err != nil {
			return nil, err
		}
		t.lists[k] = 0
		if len(m.Kvs) == 1 {
			t.lists[k] = m.Kvs[0].ModRevision
		}
	}
	items := make([]Item, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kk, id, ok := t.e.parseKey(kv.Key)
		if !ok || kk != k {
			continue
		}
		key := string(kv.Key)
		if _, ok := t.reads[key]; !ok {
			t.reads[key] = readOf(k, id, kv) // serves later Gets; the list compare covers it
		}
		if _, ok := t.writes[key]; ok || !json.Valid(kv.Value) {
			continue
		}
		items = append(items, *toItem(k, id, kv))
	}
	added := false
	for _, key := range t.order {
		if w := t.writes[key]; w.kind == k && w.value != nil {
			items = append(items, *t.buffered(w))
			added = true
		}
	}
	if added {
		slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
	}
	return items, nil
}

// buffer records a write (value nil: a deletion) over what the view read.
func (t *etcdTx) buffer(k Kind, id string, value json.RawMessage) error {
	key := t.e.itemKey(k, id)
	w, ok := t.writes[key]
	if !ok {
		old, err := t.stored(k, id)
		if err != nil {
			return err
		}
		w = &bufWrite{kind: k, id: id, old: old}
		t.writes[key] = w
		t.order = append(t.order, key)
	}
	w.value = value
	return nil
}

// Put buffers a write; created reports whether this view had no such item.
func (t *etcdTx) Put(k Kind, id string, value json.RawMessage) (Item, bool, error) {
	if !t.write {
		return Item{}, false, errors.New("put in a read transaction")
	}
	if !k.Known() {
		return Item{}, false, fmt.Errorf("unknown kind %q", k)
	}
	if !json.Valid(value) {
		return Item{}, false, fmt.Errorf("%w: value of %s/%s is not JSON", ErrInvalid, k, id)
	}
	cur, err := t.current(k, id)
	if err != nil {
		return Item{}, false, err
	}
	if cur != nil && t.genID != 0 && id == fmt.Sprintf("%020d", t.genID) {
		// an id from gen_id can already be taken by an item imported from another store:
		// run again for a new one rather than overwrite it
		return Item{}, false, t.fail(fmt.Errorf("generated id %s/%s is taken: %w", k, id, errRetry))
	}
	if err := t.buffer(k, id, append(json.RawMessage(nil), value...)); err != nil {
		return Item{}, false, err
	}
	return *t.buffered(t.writes[t.e.itemKey(k, id)]), cur == nil, nil
}

// Delete buffers a deletion and returns the item's last value.
func (t *etcdTx) Delete(k Kind, id string) (Item, error) {
	if !t.write {
		return Item{}, errors.New("delete in a read transaction")
	}
	if !k.Known() {
		return Item{}, fmt.Errorf("unknown kind %q", k)
	}
	cur, err := t.current(k, id)
	if err != nil {
		return Item{}, err
	}
	if cur == nil {
		return Item{}, ErrNotFound
	}
	if err := t.buffer(k, id, nil); err != nil {
		return Item{}, err
	}
	return *cur, nil
}

// NextRevision puts <prefix>/gen_id, as APISIX's push does, and returns the revision of
// that put: unique across every writer of this etcd. It is not the revision the
// transaction commits at, which etcd assigns only at commit. A failed put fails the
// transaction and returns 0.
func (t *etcdTx) NextRevision() int64 {
	if t.genID != 0 || t.err != nil {
		return t.genID
	}
	ctx, cancel := t.e.callCtx(t.ctx)
	defer cancel()
	resp, err := t.e.cli.Put(ctx, t.e.genIDKey(), "1")
	if err != nil {
		t.fail(t.e.wrap(t.ctx, "generate id", err))
		return 0
	}
	t.genID = resp.Header.Revision
	t.e.seen(t.genID)
	return t.genID
}

// commit sends the buffered writes as one Txn guarded by what was read; see Update.
func (t *etcdTx) commit() (int64, error) {
	var ops []clientv3.Op
	dels := map[Kind]bool{}
	for _, key := range t.order {
		switch w := t.writes[key]; {
		case w.value != nil:
			ops = append(ops, clientv3.OpPut(key, string(w.value)))
		case w.old != nil:
			ops = append(ops, clientv3.OpDelete(key))
			dels[w.kind] = true
		}
		// else: created and deleted again, or a non-JSON key never seen as an item
	}
	if len(ops) == 0 {
		return max(t.rev, t.e.Revision()), nil
	}
	for _, k := range sortedKinds(dels) {
		ops = append(ops, clientv3.OpPut(t.e.markerKey(k), "{}"))
	}
	var cmps []clientv3.Cmp
	for _, key := range sortedKeys(t.reads) {
		r := t.reads[key]
		if _, listed := t.lists[r.kind]; !r.compared || listed && t.writes[key] == nil {
			// a key only read, of a listed kind, is covered by the list's compares
			continue
		}
		if r.mod == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", r.mod))
		}
	}
	for _, k := range sortedKinds(t.lists) {
		cmps = append(cmps,
			clientv3.Compare(clientv3.ModRevision(t.e.dirKey(k)), "<", t.rev+1).WithPrefix())
		if m := t.lists[k]; m == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(t.e.markerKey(k)), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(t.e.markerKey(k)), "=", m))
		}
	}
	ctx, cancel := t.e.callCtx(t.ctx)
	defer cancel()
	resp, err := t.e.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		// a commit that timed out may still have been applied: the caller sees 503 and
		// can read the item back
		return 0, t.e.wrap(t.ctx, "commit", err)
	}
	t.e.seen(resp.Header.Revision)
	if !resp.Succeeded {
		return 0, fmt.Errorf("commit: %w", errRetry)
	}
	return resp.Header.Revision, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedKinds[V any](m map[Kind]V) []Kind {
	kinds := make([]Kind, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Watch follows etcd from revision after+1 over the whole prefix. A compacted start
// revision ends the watch with ErrCompacted; losing the leader ends it with
// ErrUnavailable; while etcd is merely unreachable the client reconnects and resumes by
// itself. Keys that are not items are left out; a response left with no events is not sent.
func (e *Etcd) Watch(ctx context.Context, after int64) <-chan WatchResponse {
	out := make(chan WatchResponse, 1)
	go func() {
		defer close(out)
		send := func(r WatchResponse) bool {
			select {
			case out <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if e.closed.Load() {
			send(WatchResponse{Rev: after, Err: ErrUnavailable})
			return
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		stop := context.AfterFunc(e.closeCtx, cancel)
		defer stop()
		w := e.cli.Watch(wctx, e.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(after+1), clientv3.WithPrevKV())
		for resp := range w {
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					send(WatchResponse{Rev: after, Err: fmt.Errorf("watch from %d: %w (compacted at %d)", after+1, ErrCompacted, resp.CompactRevision)})
				} else {
					send(WatchResponse{Rev: after, Err: fmt.Errorf("watch: %w: %v", ErrUnavailable, err)})
				}
				return
			}
			if len(resp.Events) == 0 {
				continue
			}
			r := WatchResponse{Rev: resp.Events[len(resp.Events)-1].Kv.ModRevision}
			for _, ev := range resp.Events {
				if ev := e.event(ev); ev != nil {
					r.Events = append(r.Events, *ev)
				}
			}
			e.seen(r.Rev)
			after = r.Rev
			if len(r.Events) > 0 && !send(r) {
				return
			}
		}
		if ctx.Err() == nil {
			send(WatchResponse{Rev: after, Err: fmt.Errorf("watch: %w: closed", ErrUnavailable)})
		}
	}()
	return out
}

// event maps one etcd event to a store event; nil for keys that are not items.
func (e *Etcd) event(ev *clientv3.Event) *Event {
	k, id, ok := e.parseKey(ev.Kv.Key)
	if !ok {
		return nil
	}
	if ev.Type == mvccpb.DELETE {
		it := Item{Kind: k, ID: id, ModifiedIndex: ev.Kv.ModRevision}
		if p := ev.PrevKv; p != nil {
			if !json.Valid(p.Value) {
				return nil // it was never an item
			}
			it.Value, it.CreatedIndex = json.RawMessage(p.Value), p.CreateRevision
		}
		return &Event{Type: EventDelete, Item: it}
	}
	if !json.Valid(ev.Kv.Value) {
		// a key that stops being JSON is gone as far as readers are concerned
		return &Event{Type: EventDelete, Item: Item{Kind: k, ID: id, ModifiedIndex: ev.Kv.ModRevision}}
	}
	return &Event{Type: EventPut, Item: Item{Kind: k, ID: id, Value: json.RawMessage(ev.Kv.Value),
		CreatedIndex: ev.Kv.CreateRevision, ModifiedIndex: ev.Kv.ModRevision}}
}
