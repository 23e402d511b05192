package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of one side of a connection. CertFile and
// KeyFile go together (both or neither); CAFile holds one or more CA
// certificates.
type Files struct {
	CertFile string // certificate chain, leaf first
	KeyFile  string // the leaf's private key (PKCS#8, PKCS#1 or EC)
	CAFile   string // CA certificates that sign the other side's certificates
}

// checkInterval is the least time between two looks at the files' stamps
// (see stamp).
const checkInterval = time.Second

// Reloader holds the material loaded from Files and re-reads it when the
// files change (see the package doc). It is safe for concurrent use.
type Reloader struct {
	files Files
	log   *slog.Logger

	mu sync.Mutex // guards mat, stamps, failed, checked
	// mat is the material in use: the last that loaded completely.
	mat *material
	// stamps are the files' stamps when last read (whether the read
	// loaded or failed).
	stamps [3]stamp
	// failed is set while the last read failed: every check re-reads the
	// files then, changed stamps or not, until a read loads.
	failed  bool
	checked time.Time // when the stamps were last compared
}

// material is one complete load of the files; read-only once built.
type material struct {
	cert *tls.Certificate // nil without CertFile
	leaf *x509.Certificate
	pool *x509.CertPool // nil without CAFile
	// serverCfg and peerCfg are the per-handshake server configurations
	// built from this material (ServerConfig, PeerConfig).
	serverCfg, peerCfg *tls.Config
}

// stamp tells whether a file changed: its size and modification time,
// and where the platform has them (stamp_linux.go) its device, inode and
// status change time, so a file replaced by one of the same size with its
// modification time kept (cp -p, rsync -t, tar), or whose permissions
// were fixed, still counts as changed. Comparable with ==.
type stamp struct {
	size       int64
	mod        time.Time
	dev, ino   uint64
	ctimeNanos int64
	err        bool // the file could not be stat'ed
}

// New loads files and returns a Reloader for them. It returns an error
// wrapping ErrLoad when a file cannot be read or parsed, when only one of
// CertFile and KeyFile is given, or when nothing is given. logger (nil:
// discard) receives rotations and failed reloads. New blocks while reading
// the files.
func New(files Files, logger *slog.Logger) (*Reloader, error) {
	if (files.CertFile == "") != (files.KeyFile == "") {
		return nil, fmt.Errorf("%w: a certificate needs its key and a key its certificate (cert %q, key %q)", ErrLoad, files.CertFile, files.KeyFile)
	}
	if files.CertFile == "" && files.CAFile == "" {
		return nil, fmt.Errorf("%w: no file given", ErrLoad)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: files, log: logger}
	r.stamps = r.stat()
	m, err := load(files)
	if err != nil {
		return nil, err
	}
	r.mat = m
	r.checked = time.Now()
	return r, nil
}

// Files returns the files r reads.
func (r *Reloader) Files() Files { return r.files }

// Reload re-reads the files now if any changed since they were last
// read, or if that read failed. On an error (wrapping ErrLoad) the
// material in use is kept, and the next check (Reload, or a handshake a
// second later) reads the files again. It blocks while reading the files.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	r.checked = time.Now()
	st := r.stat()
	changed := st != r.stamps
	if !changed && !r.failed {
		return nil
	}
	r.stamps = st
	m, err := load(r.files)
	if err != nil {
		if changed || !r.failed {
			r.log.Error("TLS files changed but do not load; keeping the previous certificates (retrying every second)", "error", err)
		} else {
			r.log.Debug("TLS files still do not load; keeping the previous certificates", "error", err)
		}
		r.failed = true
		return err
	}
	r.failed = false
	r.mat = m
	attrs := []any{"cert", r.files.CertFile, "ca", r.files.CAFile}
	if m.leaf != nil {
		attrs = append(attrs, "subject", m.leaf.Subject.CommonName, "serial", m.leaf.SerialNumber.String(), "not_after", m.leaf.NotAfter)
	}
	r.log.Info("TLS certificates reloaded", attrs...)
	return nil
}

// current returns the material in use, first re-reading the files if
// they changed and were not looked at for checkInterval.
func (r *Reloader) current() *material {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= checkInterval {
		_ = r.reloadLocked() // logged; the old material stays
	}
	return r.mat
}

// Leaf returns the certificate in use (nil without CertFile), after
// re-reading the files if they changed. Safe for concurrent use.
func (r *Reloader) Leaf() *x509.Certificate { return r.current().leaf }

func (r *Reloader) stat() [3]stamp {
	var st [3]stamp
	for i, name := range []string{r.files.CertFile, r.files.KeyFile, r.files.CAFile} {
		if name == "" {
			continue
		}
		fi, err := os.Stat(name)
		if err != nil {
			st[i].err = true
			continue
		}
		st[i] = fileStamp(fi)
	}
	return st
}

// load reads and checks every file of f.
func load(f Files) (*material, error) {
	m := &material{}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %s, key %s: %w", ErrLoad, f.CertFile, f.KeyFile, err)
		}
		m.cert = &cert
		m.leaf = cert.Leaf
		if m.leaf == nil {
			if m.leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return nil, fmt.Errorf("%w: certificate %s: %w", ErrLoad, f.CertFile, err)
			}
		}
	}
	if f.CAFile != "" {
		pool, err := loadPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		m.pool = pool
	}
	m.build()
	return m, nil
}

// loadPool reads the CA certificates of a PEM file. A file without a
// single certificate is an error.
func loadPool(name string) (*x509.CertPool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrLoad, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for len(data) > 0 {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file %s: %w", ErrLoad, name, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrLoad, name)
	}
	return pool, nil
}
