// Package accesslog owns the access log: one line per request, as JSON or in an
// nginx-style format with `$var`s, written to stdout or a file by one goroutine behind a
// bounded queue, reopened on request (the node wires SIGUSR1 to Reopen) so logrotate can
// rename the file away.
//
// Record builds the line synchronously from the request's Ctx (the Ctx is reused once the
// request ends, so nothing of it may be kept) and enqueues it; it never waits for the
// disk. When the queue is full the line is dropped and counted
// (portico_access_log_dropped_total, and Dropped). It must not import the proxy or a
// plugin, nor log per request: a write error is logged at most every 10 s.
//
// # Format
//
// Text (Options.JSON false): Format is nginx-like: `$name`, `${name}` and
// `${name ?? default}` are variables resolved as everywhere else in Portico (APISIX's
// names: remote_addr, status, http_user_agent, route_id, …); a missing or empty one is
// written as "-", as nginx does. An empty Format is APISIX's default access log format.
// On top of the request variables the log knows time_local, time_iso8601, msec, request
// ("GET /path HTTP/1.1"), remote_user (the basic-auth user) and body_bytes_sent (the
// response's Content-Length), unless the proxy set them as variables.
//
// JSON (Options.JSON true): each line is one JSON object. Format, when set, is a JSON
// object whose keys are written in its order and whose values are templates as above
// (`{"client": "$remote_addr", "url": "$scheme://$host$request_uri"}`); a missing variable
// is "". An empty Format writes DefaultJSONFields.
package accesslog
