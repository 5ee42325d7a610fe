// Package redirect is APISIX's redirect: it answers a request with a redirect to a new
// URI (a `$var` template, a regex substitution of the path, or the same URL over https).
// Priority 900, phase rewrite.
//
// Bad input: none or more than one of uri/regex_uri/http_to_https, a uri under 2
// characters, a regex_uri that is not [regex, template] or does not compile, a template
// with a `$` that names no capture, a ret_code under 200, or http_to_https with
// append_query_string is refused when written. A request that needs no redirect (a
// regex_uri that does not match, http_to_https on https) goes on.
package redirect
