package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

// etcdServer is porticotest's real etcd process, with the store's own helpers.
type etcdServer struct {
	*porticotest.EtcdServer
	client string
}

// startEtcd starts etcd (Debian package etcd-server) and stops it when the test ends.
// Without the binary it skips, or fails under CI=true.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	s := porticotest.StartEtcd(t)
	return &etcdServer{EtcdServer: s, client: s.Endpoint}
}

// open connects a backend with the given prefix ("" for /apisix).
func (s *etcdServer) open(t *testing.T, prefix string) *Etcd {
	t.Helper()
	e, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{s.client}, Prefix: prefix})
	if err != nil {
		t.Fatal(fmt.Errorf("open etcd: %w", err))
	}
	t.Cleanup(func() { e.Close() })
	return e
}
