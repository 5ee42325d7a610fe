// Package cors is APISIX's cors: it answers OPTIONS requests itself and adds the CORS
// response headers for allowed origins. Priority 4000, phases rewrite and header_filter.
//
// Bad input: an allow_origins or timing_allow_origins that is not "*", "**", "null" or a
// comma list of scheme://host values, an uncompilable or repeated origin regex, a "*" in
// any option together with allow_credential, and allow_origins_by_metadata (plugin
// metadata is not available to plugins) are refused when written. A request whose
// Origin is not allowed gets no CORS headers; it is not refused.
package cors
