package tlsconf

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFilesRefusesHalfACA: with only one of ca.crt and ca.key in
// the directory (the key moved offline, or a lost certificate),
// WriteFiles fails with ErrLoad and leaves the directory as it was; it
// creates a CA only when both are absent.
func TestWriteFilesRefusesHalfACA(t *testing.T) {
	for _, missing := range []string{CAKeyName, CAFileName} {
		t.Run("without "+missing, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := WriteFiles(dir, []string{"n1"}, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, missing), filepath.Join(t.TempDir(), missing)); err != nil {
				t.Fatal(err)
			}
			kept := CAFileName
			if missing == CAFileName {
				kept = CAKeyName
			}
			before, err := os.ReadFile(filepath.Join(dir, kept))
			if err != nil {
				t.Fatal(err)
			}
			w, err := WriteFiles(dir, []string{"n2"}, nil, nil)
			if !errors.Is(err, ErrLoad) {
				t.Fatalf("WriteFiles without %s: wrote %v, error %v; want ErrLoad", missing, w, err)
			}
			after, _ := os.ReadFile(filepath.Join(dir, kept))
			if !bytes.Equal(before, after) {
				t.Fatalf("%s was replaced", kept)
			}
			if _, err := os.Stat(filepath.Join(dir, missing)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s was created: %v", missing, err)
			}
			if _, err := os.Stat(NodeFiles(dir, "n2").CertFile); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a certificate for n2 was written: %v", err)
			}
		})
	}
}

// TestLoadCAChecksKeyAndCA: LoadCA refuses a key that is not the
// certificate's and a certificate that is not a CA (ErrLoad); the
// negative control loads.
func TestLoadCAChecksKeyAndCA(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t), newCA(t)
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		mustWrite(t, p, data)
		return p
	}
	key := func(ca *CA) []byte {
		t.Helper()
		kp, err := ca.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	caCert, caKey, otherKey := write("ca.crt", ca.CertPEM()), write("ca.key", key(ca)), write("other.key", key(other))
	if _, err := LoadCA(caCert, caKey); err != nil {
		t.Fatalf("a CA and its key: %v", err)
	}
	if _, err := LoadCA(caCert, otherKey); !errors.Is(err, ErrLoad) {
		t.Errorf("a CA with another CA's key: %v; want ErrLoad", err)
	}
	leafPEM, leafKey, err := ca.NodeCert("n1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(write("leaf.crt", leafPEM), write("leaf.key", leafKey)); !errors.Is(err, ErrLoad) {
		t.Errorf("a node certificate as the CA: %v; want ErrLoad", err)
	}
}

// TestPeerPortRefusesClientOnlyNodeName: a certificate of the cluster's CA
// named node:evil but issued for clients only (no ServerAuth usage, as
// a user's certificate) is refused on the peer (Raft) port; real node
// certificates carry both usages and are accepted (the control).
func TestPeerPortRefusesClientOnlyNodeName(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	p1, err := reloader(t, writeNode(t, ca, dir, "n1")).PeerConfig()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := reloader(t, writeNode(t, ca, dir, "n2")).PeerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if serr, cerr, _, _ := handshake(t, p1, p2); serr != nil || cerr != nil {
		t.Fatalf("two nodes: server %v, client %v", serr, cerr)
	}
	cp, kp, err := ca.issue("node:evil", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, 0)
	if err != nil {
		t.Fatal(err)
	}
	evil := Files{CertFile: filepath.Join(dir, "evil.crt"), KeyFile: filepath.Join(dir, "evil.key"), CAFile: filepath.Join(dir, CAFileName)}
	mustWrite(t, evil.CertFile, cp)
	mustWrite(t, evil.KeyFile, kp)
	serr, _, _, _ := handshake(t, p1, reloader(t, evil).ClientConfig())
	if !errors.Is(serr, ErrHandshake) {
		t.Fatalf("a client-only certificate named node:evil on the peer port: server %v; want a refused handshake", serr)
	}
}

// TestWriteFilesRefusesBadNames: names that would pass for a node
// (node:x as a client) or leave the directory (path separators, "..")
// are refused with ErrInvalidName before anything is written.
func TestWriteFilesRefusesBadNames(t *testing.T) {
	for _, tc := range []struct{ nodes, clients []string }{
		{clients: []string{"node:evil"}},
		{clients: []string{"../alice"}},
		{clients: []string{"a/b"}},
		{clients: []string{`a\b`}},
		{clients: []string{".."}},
		{nodes: []string{"../n1"}},
		{nodes: []string{"n/1"}},
	} {
		dir := t.TempDir()
		w, err := WriteFiles(dir, tc.nodes, tc.clients, nil)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("nodes %q clients %q: wrote %v, error %v; want ErrInvalidName", tc.nodes, tc.clients, w, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("nodes %q clients %q: %d files written", tc.nodes, tc.clients, len(ents))
		}
	}
	if _, err := WriteFiles(t.TempDir(), []string{"n1"}, []string{"alice", "svc.orders"}, nil); err != nil {
		t.Fatalf("good names: %v", err)
	}
}

// TestWriteFilesKeysPrivate: keys come out mode 0600 whatever was lying
// around: a world-readable leftover <key>.tmp is neither reused (its mode
// kept) nor followed when it is a symbolic link; a new directory is
// created mode 0700.
func TestWriteFilesKeysPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := NodeFiles(dir, "n1").KeyFile
	if err := os.WriteFile(key+".tmp", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	caKey := filepath.Join(dir, CAKeyName)
	if err := os.Symlink(outside, caKey+".tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFiles(dir, []string{"n1"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{key, caKey} {
		fi, err := os.Lstat(name)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; want a regular file, 0600", name, fi.Mode())
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Errorf("the file a leftover symbolic link points to was overwritten: %.40q", b)
	}

	fresh := filepath.Join(t.TempDir(), "new", "certs")
	if _, err := WriteFiles(fresh, []string{"n1"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("new directory: %v %v; want mode 0700", fi.Mode(), err)
	}
}
