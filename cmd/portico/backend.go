package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/store"
)

// openBackend opens the configured store: the embedded bbolt file, or etcd.
func openBackend(ctx context.Context, cfg *Config) (store.Backend, error) {
	if cfg.Store.Type != "etcd" {
		return store.OpenBolt(filepath.Join(cfg.DataDir, "portico.db"), store.BoltOptions{})
	}
	e := cfg.Store.Etcd
	opts := store.EtcdOptions{Endpoints: e.Endpoints, Prefix: e.Prefix, Username: e.User, Password: e.Password}
	if e.Timeout > 0 {
		opts.RequestTimeout = time.Duration(e.Timeout * float64(time.Second))
	}
	if e.TLS.Cert != "" || e.TLS.CA != "" || e.TLS.Verify != nil || e.TLS.SNI != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.TLS.SNI}
		if e.TLS.Verify != nil && !*e.TLS.Verify {
			tc.InsecureSkipVerify = true
		}
		if e.TLS.CA != "" {
			pem, err := os.ReadFile(e.TLS.CA)
			if err != nil {
				return nil, fmt.Errorf("config key store.etcd.tls.ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("config key store.etcd.tls.ca: no certificate in %s", e.TLS.CA)
			}
			tc.RootCAs = pool
		}
		if e.TLS.Cert != "" {
			cert, err := tls.LoadX509KeyPair(e.TLS.Cert, e.TLS.Key)
			if err != nil {
				return nil, fmt.Errorf("config key store.etcd.tls.cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts.TLS = tc
	}
	return store.OpenEtcd(ctx, opts)
}

// itemValidator checks one exported item before an import writes anything: its schema,
// its plugins and the data plane's compile step (references are checked by the import
// order and by the Admin API on later writes).
func itemValidator(reg *plugins.Registry) func(store.Kind, json.RawMessage) error {
	return func(k store.Kind, value json.RawMessage) error {
		obj, err := store.DecodeKind(k, value)
		if err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		var ps store.Plugins
		consumer := false
		switch v := obj.(type) {
		case *store.Route:
			ps = v.Plugins
		case *store.Service:
			ps = v.Plugins
		case *store.Consumer:
			ps, consumer = v.Plugins, true
		case *store.Credential:
			ps, consumer = v.Plugins, true
		case *store.ConsumerGroup:
			ps = v.Plugins
		case *store.PluginConfig:
			ps = v.Plugins
		case *store.GlobalRule:
			ps = v.Plugins
		}
		if consumer {
			err = reg.DecodeAllConsumer(ps)
		} else {
			err = reg.DecodeAll(ps)
		}
		if err != nil {
			return err
		}
		return proxy.Validate(k, obj)
	}
}

// exportCmd writes the whole configuration as JSON to out ("-" for stdout).
func exportCmd(cfg *Config, out string) error {
	ctx := context.Background()
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	d, err := store.Export(ctx, store.New(b))
	if err != nil {
		return err
	}
	j, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err = os.Stdout.Write(append(j, '\n'))
		return err
	}
	return os.WriteFile(out, append(j, '\n'), 0o600)
}

// importCmd validates every item of an export, then writes them into the configured store.
func importCmd(cfg *Config, in string) (int, error) {
	raw, err := os.ReadFile(in)
	if err != nil {
		return 0, err
	}
	var d store.Dump
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, fmt.Errorf("read %s: %w", in, err)
	}
	reg := plugins.NewRegistry(builtins...)
	if err := reg.SetEnabled(cfg.Plugins); err != nil {
		return 0, fmt.Errorf("config key plugins: %w", err)
	}
	ctx := context.Background()
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	if err := store.Import(ctx, store.New(b), d, itemValidator(reg)); err != nil {
		return 0, err
	}
	return len(d.Items), nil
}
