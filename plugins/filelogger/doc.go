// Package filelogger is APISIX's file-logger: it appends each request's log entry
// (APISIX's full log, or the `log_format` object) as one JSON line to `path`. Priority
// 399, phases access (request body capture), body_filter (response body capture) and
// log.
//
// Bad input: a missing `path`, log_format that is not an object, or a `match` or
// include_*_body_expr that does not compile is refused when written. At request time
// nothing can fail: the line is queued without waiting and written by the plugin's one
// writer goroutine, in batches of whatever is queued; a full queue or a failed write
// drops lines, counted in portico_logger_dropped_total{plugin="file-logger"}.
//
// # Rotation
//
// APISIX reopens the file after its log-rotate plugin renamed it. Here the writer checks,
// at most once a second before a write, whether `path` still names the open file, and
// reopens it when it was renamed or removed; so logrotate (without copytruncate) works
// with no signal. The package keeps no state: each Plugin owns its file.
package filelogger
