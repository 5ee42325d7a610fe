// Package apibreaker is APISIX's api-breaker: after `unhealthy.failures` upstream
// answers with an unhealthy status it answers `break_response_code` itself for 2^n
// seconds (n = unhealthy count ÷ failures, at least 1; at most max_breaker_sec), and
// `healthy.successes` healthy answers close it again. Priority 1005, phases access
// (break) and log (count).
//
// The arithmetic is the Lua's, kept exactly: the unhealthy count is not reset when a
// break ends, so every further multiple of `failures` starts a longer break; a healthy
// status counts only while an unhealthy count exists, an unhealthy one clears the
// healthy count, a status in neither list changes nothing; times are whole seconds
// (a break lasts until `last + 2^n >= now` stops holding). Only answers from an upstream
// count (a node was tried: Ctx.UpstreamAddr is set), with the status the client gets,
// so the gateway's 502/504 for a failed or timed-out upstream count as nginx's
// $upstream_status does.
//
// Bad input: a missing break_response_code or one outside 200–599, an empty header key
// or value, max_breaker_sec below 3, unhealthy statuses outside 500–599, healthy ones
// outside 200–499, repeated or empty status lists, failures or successes below 1 are
// refused when written. At request time nothing can fail.
//
// # Why state lives in package-level state
//
// As limit-count's counters (plugins/internal/counters): a Plugin is rebuilt with every
// snapshot, and a breaker must not close because an unrelated route changed. States live
// in a store found by "conf:<sha256 of the config>"; inside it a state is keyed by route
// id, host and uri (APISIX keys by host and uri alone, see README). The sweeper forgets
// a state idle for longer than max(10 min, 2 × max_breaker_sec).
package apibreaker
