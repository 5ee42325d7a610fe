// Package requestid is APISIX's request-id: it gives every request an id in a header
// (keeping one the client sent) and echoes it in the response. Priority 12015, phases
// rewrite and header_filter.
//
// Bad input: an unknown algorithm, a range_id length under 6 or a char_set under 6
// characters is refused when written. Ids come from crypto/rand (uuid, uuidv7, nanoid,
// ksuid) or math/rand/v2 (range_id, as APISIX's math.random); nothing is shared between
// requests.
package requestid
