package serverlesspostfunction

import "github.com/portico-gw/portico/plugins/internal/serverless"

// Spec is serverless-post-function.
var Spec = serverless.Spec("serverless-post-function", -2000)
