// Package builtin lists every built-in plugin: one line per plugin. cmd/portico hands
// the list to the plugin registry.
package builtin

import (
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/apibreaker"
	"github.com/portico-gw/portico/plugins/basicauth"
	"github.com/portico-gw/portico/plugins/clientcontrol"
	"github.com/portico-gw/portico/plugins/consumerrestriction"
	"github.com/portico-gw/portico/plugins/cors"
	"github.com/portico-gw/portico/plugins/extpluginpostreq"
	"github.com/portico-gw/portico/plugins/extpluginpostresp"
	"github.com/portico-gw/portico/plugins/extpluginprereq"
	"github.com/portico-gw/portico/plugins/faultinjection"
	"github.com/portico-gw/portico/plugins/filelogger"
	"github.com/portico-gw/portico/plugins/gzip"
	"github.com/portico-gw/portico/plugins/httplogger"
	"github.com/portico-gw/portico/plugins/iprestriction"
	"github.com/portico-gw/portico/plugins/jwtauth"
	"github.com/portico-gw/portico/plugins/keyauth"
	"github.com/portico-gw/portico/plugins/limitconn"
	"github.com/portico-gw/portico/plugins/limitcount"
	"github.com/portico-gw/portico/plugins/limitreq"
	"github.com/portico-gw/portico/plugins/mocking"
	"github.com/portico-gw/portico/plugins/prometheus"
	"github.com/portico-gw/portico/plugins/proxymirror"
	"github.com/portico-gw/portico/plugins/proxyrewrite"
	"github.com/portico-gw/portico/plugins/realip"
	"github.com/portico-gw/portico/plugins/redirect"
	"github.com/portico-gw/portico/plugins/refererrestriction"
	"github.com/portico-gw/portico/plugins/requestid"
	"github.com/portico-gw/portico/plugins/requestvalidation"
	"github.com/portico-gw/portico/plugins/responserewrite"
	"github.com/portico-gw/portico/plugins/serverlesspostfunction"
	"github.com/portico-gw/portico/plugins/serverlessprefunction"
	"github.com/portico-gw/portico/plugins/trafficsplit"
	"github.com/portico-gw/portico/plugins/uarestriction"
	"github.com/portico-gw/portico/plugins/uriblocker"
)

// Specs is every built-in plugin.
var Specs = []plugins.Spec{
	apibreaker.Spec,
	basicauth.Spec,
	clientcontrol.Spec,
	consumerrestriction.Spec,
	cors.Spec,
	extpluginpostreq.Spec,
	extpluginpostresp.Spec,
	extpluginprereq.Spec,
	faultinjection.Spec,
	filelogger.Spec,
	gzip.Spec,
	httplogger.Spec,
	iprestriction.Spec,
	jwtauth.Spec,
	keyauth.Spec,
	limitconn.Spec,
	limitcount.Spec,
	limitreq.Spec,
	mocking.Spec,
	prometheus.Spec,
	proxymirror.Spec,
	proxyrewrite.Spec,
	realip.Spec,
	redirect.Spec,
	refererrestriction.Spec,
	requestid.Spec,
	requestvalidation.Spec,
	responserewrite.Spec,
	serverlesspostfunction.Spec,
	serverlessprefunction.Spec,
	trafficsplit.Spec,
	uarestriction.Spec,
	uriblocker.Spec,
}
