// Package restrict holds the config checks and the refusal body that the allow/deny-list
// plugins (referer-restriction, ua-restriction) share, with APISIX's messages: exactly
// one of the two lists, a list of at least one item, a message of 1 to 1024 bytes.
//
// What a list item is, and how a request matches it, stays in the plugin. It must not
// import a plugin.
package restrict
