// Package store owns Portico's configuration: the resource kinds and their typed shapes
// (Route, Service, Upstream, Consumer, …) with APISIX's JSON field names, the Store
// interface, the bbolt backend, revisions, the bounded change log and watch.
//
// A write returns only once it is durable: the bbolt backend commits every write in one
// transaction and bbolt fsyncs the file before Commit returns. The package must not import
// other Portico packages and is never read on the request path: the proxy builds an
// immutable snapshot from what Snapshot and Watch hand out.
//
// # A write that cannot reach the disk
//
// When the disk is full or the file may not grow (ENOSPC, EFBIG) the write returns the
// I/O error and nothing of it stays: bbolt writes a transaction's pages where no
// committed page points, then the meta page, and rolls back (reloading its free list)
// when either fails, so the file keeps the previous commit. The store keeps serving
// reads and watches, and takes writes again once there is room, without a restart.
// The admin answers such a write 500 with the error (it names the file and the cause).
//
// # Values are kept as the user sent them
//
// APISIX stores the body of a write plus `id`, `create_time` and `update_time`; defaults
// are not persisted, and an `id` keeps the JSON type it arrived with. Portico does the
// same: an Item carries the raw JSON value, and the typed shapes (Route, Upstream, …) are
// decoded from it when a write is validated or a snapshot is built.
//
// # Revisions
//
// Every committed write gets the next revision of one counter shared by all kinds, as an
// etcd cluster has. An item remembers the revision that created it and the one that last
// changed it (`createdIndex` and `modifiedIndex` in the Admin API). POST ids are the
// revision of the write that creates them, formatted %020d, so they are unique and grow.
//
// # Why one bucket per kind
//
// Listing a kind is one cursor walk in key order, which is the order etcd lists keys in.
//
// # Change log and watch
//
// Each write also appends its events under its revision in a change-log bucket, which
// keeps the newest LogLimit revisions. A watcher asks for everything after a revision; when
// that revision has already been pruned it is told Compacted and must re-read the whole
// configuration with Snapshot, as an etcd watcher does after a compaction.
package store
