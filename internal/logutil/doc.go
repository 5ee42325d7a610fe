// Package logutil is what APISIX's logger plugins share (apisix/utils/log-util.lua and
// batch-processor.lua): the log entry a logger sends (APISIX's full log, or a
// `log_format` object of `$var`s), request and response body capture, and a Batcher
// that hands entries to a sink in batches from one goroutine.
//
// It must not import a plugin or the proxy, nor block a request: Builder methods run on
// the request path and only format; Batcher.Push never waits (a full queue drops the
// entry, counted in portico_logger_dropped_total{plugin} and Batcher.Dropped). A sink
// that fails is retried max_retry_count times, then its batch is dropped and counted.
//
// Entries are encoded to JSON when built, so nothing of the request (whose Ctx is reused)
// is kept, and the batch is assembled from bytes.
package logutil
