module portico-testdata/extrunner

go 1.26.0

require (
	github.com/apache/apisix-go-plugin-runner v0.5.0
	go.uber.org/zap v1.17.0
)

require (
	github.com/ReneKroon/ttlcache/v2 v2.4.0 // indirect
	github.com/api7/ext-plugin-proto v0.6.0 // indirect
	github.com/google/flatbuffers v2.0.0+incompatible // indirect
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.7.0 // indirect
)
