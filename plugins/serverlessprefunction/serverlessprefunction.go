package serverlessprefunction

import "github.com/portico-gw/portico/plugins/internal/serverless"

// Spec is serverless-pre-function.
var Spec = serverless.Spec("serverless-pre-function", 10000)
