// Package regexsub is the part of ngx.re.sub that proxy-rewrite (regex_uri) and
// response-rewrite (filters) share: the replacement template (`$N`, `${N}`, `$$`) and the
// ngx.re options turned into RE2 flags.
//
// Templates and regexes are compiled once per snapshot; per request only the Expand
// methods run, without allocating beyond the output. It must not import a plugin.
package regexsub
