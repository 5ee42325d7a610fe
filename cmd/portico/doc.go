// Command portico is the gateway: `portico run` (the default) serves the proxy and the
// Admin API from one process; `portico validate` checks a node config; `portico version`
// prints the version.
//
// This package owns the node config file, the wiring of store, admin and proxy, the
// admin key and signals. It must not hold request or admin logic.
//
// # Admin key
//
// Keys come from the node config (admin.keys) or PORTICO_ADMIN_KEY. With neither, the
// first start generates a random key with crypto/rand, writes it to
// <data_dir>/admin.key (mode 0600) and logs where it is, never the key itself.
package main
