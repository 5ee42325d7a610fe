module github.com/portico-gw/portico

go 1.26

require (
	github.com/expr-lang/expr v1.17.8 // indirect
	github.com/gorilla/mux v1.8.1 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
