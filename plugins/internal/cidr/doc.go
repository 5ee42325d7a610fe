// Package cidr parses lists of IPs and CIDRs as APISIX's schema and lua-resty-ipmatcher
// do (host bits masked off, zones and signed masks refused), with APISIX's messages, for
// ip-restriction and real-ip.
//
// Lists are parsed once per snapshot; per request only Contains runs. It must not
// import a plugin.
package cidr
