// Package httplogger is APISIX's http-logger: it sends each request's log entry (APISIX's
// full log, or the `log_format` object) to `uri` by HTTP POST, in batches. Priority 410,
// phases access (request body capture), body_filter (response body capture) and log.
//
// Bad input: a missing `uri`, one that is not http(s)://host[:port]…, a timeout below 1,
// an unknown concat_method, a bad batch field, log_format that is not an object or an
// include_*_body_expr that does not compile is refused when written. At request time
// nothing can fail: entries are queued without waiting; a full queue, or a batch the sink
// still refuses after max_retry_count retries, is dropped and counted in
// portico_logger_dropped_total{plugin="http-logger"}.
//
// Each Plugin owns its batcher (one goroutine) and HTTP client; Close, when the snapshot
// retires, sends what is queued once within `timeout`. The package keeps no state.
package httplogger
