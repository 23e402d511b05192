package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
)

// Validity of the certificates this file creates.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority that signs node and client certificates:
// ECDSA P-256, for a quick start and for tests (an operator with a PKI
// uses its own). Its methods are safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA creates a self-signed CA named name, valid for validity (<= 0:
// DefaultCAValidity). Errors come from the key generator.
func NewCA(name string, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA key: %w", err)
	}
	tmpl, err := template(name, validity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA written by WriteFiles (or any PEM CA certificate and
// its EC key). It blocks while reading the files. Errors wrap ErrLoad: a
// file that cannot be read or parsed, a key that is not the certificate's,
// a certificate that is not a CA's.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, fmt.Errorf("%w: %s or %s is not PEM", ErrLoad, certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLoad, certFile, err)
	}
	key, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLoad, keyFile, err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%w: the key in %s is not the key of the certificate in %s", ErrLoad, keyFile, certFile)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || (cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, fmt.Errorf("%w: %s is not a CA certificate (it cannot sign certificates)", ErrLoad, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM returns the CA's private key in PEM.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// NodeCert creates the certificate of node id: common name
// auth.NodePrefix+id, for servers and clients (nodes dial each other),
// valid for 127.0.0.1, ::1, localhost and hosts (names or IP addresses).
// validity <= 0 means DefaultCertValidity. It returns the certificate and
// key in PEM.
func (ca *CA) NodeCert(id string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if id == "" {
		return nil, nil, errors.New("tlsconf: node id is empty")
	}
	return ca.issue(auth.NodePrefix+id, append([]string{"127.0.0.1", "::1", "localhost"}, hosts...),
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, validity)
}

// CheckNames reports whether WriteFiles can write certificates for nodes
// and clients: each name is non-empty and contains no path separator
// ("/" or "\") and no "..", since it becomes part of a file name; a
// client name does not start with auth.NodePrefix (it would authenticate
// as a node). Errors wrap ErrInvalidName.
func CheckNames(nodes, clients []string) error {
	check := func(kind, name string) error {
		switch {
		case name == "":
			return fmt.Errorf("%w: empty %s name", ErrInvalidName, kind)
		case strings.ContainsAny(name, `/\`) || strings.Contains(name, ".."):
			return fmt.Errorf("%w: %s %q: a name may contain no path separator and no \"..\"", ErrInvalidName, kind, name)
		}
		return nil
	}
	for _, n := range nodes {
		if err := check("node", n); err != nil {
			return err
		}
	}
	for _, c := range clients {
		if err := check("client", c); err != nil {
			return err
		}
		if strings.HasPrefix(c, auth.NodePrefix) {
			return fmt.Errorf("%w: client %q: names starting with %q are nodes'", ErrInvalidName, c, auth.NodePrefix)
		}
	}
	return nil
}

// ClientCert creates a client certificate for user (its common name, the
// principal a broker authenticates it as). validity <= 0 means
// DefaultCertValidity. It returns the certificate and key in PEM. A user
// starting with auth.NodePrefix is refused (ErrInvalidName).
func (ca *CA) ClientCert(user string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if user == "" {
		return nil, nil, errors.New("tlsconf: user name is empty")
	}
	if strings.HasPrefix(user, auth.NodePrefix) {
		return nil, nil, fmt.Errorf("%w: client %q: names starting with %q are nodes'", ErrInvalidName, user, auth.NodePrefix)
	}
	return ca.issue(user, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity)
}

func (ca *CA) issue(cn string, hosts []string, usage []x509.ExtKeyUsage, validity time.Duration) ([]byte, []byte, error) {
	if validity <= 0 {
		validity = DefaultCertValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: key: %w", err)
	}
	tmpl, err := template(cn, validity)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = usage
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: certificate for %s: %w", cn, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// template is a certificate template with a random serial number.
func template(cn string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: serial: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"minibroker"}},
		NotBefore:    now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:     now.Add(validity),
	}, nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// Layout of the files WriteFiles writes in its directory.
const (
	CAFileName  = "ca.crt"
	CAKeyName   = "ca.key"
	certSuffix  = ".crt"
	keySuffix   = ".key"
	nodePrefix  = "node-"
	clientStart = "client-"
)

// NodeFiles returns the Files of node id in dir as WriteFiles names them:
// node-<id>.crt, node-<id>.key and ca.crt.
func NodeFiles(dir, id string) Files {
	return Files{CertFile: filepath.Join(dir, nodePrefix+id+certSuffix), KeyFile: filepath.Join(dir, nodePrefix+id+keySuffix),
		CAFile: filepath.Join(dir, CAFileName)}
}

// ClientFiles returns the Files of client user in dir as WriteFiles names
// them: client-<user>.crt, client-<user>.key and ca.crt.
func ClientFiles(dir, user string) Files {
	return Files{CertFile: filepath.Join(dir, clientStart+user+certSuffix), KeyFile: filepath.Join(dir, clientStart+user+keySuffix),
		CAFile: filepath.Join(dir, CAFileName)}
}

// WriteFiles creates a CA in dir (ca.crt, ca.key) when dir has neither
// file, else loads the CA there (LoadCA), then writes a certificate for
// each node (see NodeFiles; valid for hosts too) and each client (see
// ClientFiles), creating dir mode 0700 if missing. Keys are written mode
// 0600, certificates 0644 (see writeFile). It returns the paths written.
// It blocks on the file system. Errors: the file system's; ErrLoad for an
// existing CA that does not load, and when only one of ca.crt and ca.key
// exists (nothing is written then: a new CA would lock out every node
// that trusts the old one); ErrInvalidName for a name CheckNames refuses.
func WriteFiles(dir string, nodes, clients, hosts []string) ([]string, error) {
	if err := CheckNames(nodes, clients); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	caCert, caKey := filepath.Join(dir, CAFileName), filepath.Join(dir, CAKeyName)
	var written []string
	haveCert, err := exists(caCert)
	if err != nil {
		return nil, err
	}
	haveKey, err := exists(caKey)
	if err != nil {
		return nil, err
	}
	var ca *CA
	switch {
	case haveCert != haveKey:
		have, lack := caCert, caKey
		if haveKey {
			have, lack = caKey, caCert
		}
		return nil, fmt.Errorf("%w: %s exists but %s does not: restore it (or remove both to create a new CA, which nodes trusting the old one will refuse)",
			ErrLoad, have, lack)
	case haveCert:
		if ca, err = LoadCA(caCert, caKey); err != nil {
			return nil, err
		}
	default:
		if ca, err = NewCA("minibroker CA", 0); err != nil {
			return nil, err
		}
		kp, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := writeFile(caKey, kp, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(caCert, ca.CertPEM(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, caCert, caKey)
	}
	write := func(f Files, cp, kp []byte) error {
		if err := writeFile(f.KeyFile, kp, 0o600); err != nil {
			return err
		}
		if err := writeFile(f.CertFile, cp, 0o644); err != nil {
			return err
		}
		written = append(written, f.CertFile, f.KeyFile)
		return nil
	}
	for _, n := range nodes {
		cp, kp, err := ca.NodeCert(n, hosts, 0)
		if err != nil {
			return written, err
		}
		if err := write(NodeFiles(dir, n), cp, kp); err != nil {
			return written, err
		}
	}
	for _, u := range clients {
		cp, kp, err := ca.ClientCert(u, 0)
		if err != nil {
			return written, err
		}
		if err := write(ClientFiles(dir, u), cp, kp); err != nil {
			return written, err
		}
	}
	return written, nil
}

// writeFile writes data to name, mode perm, through a new temporary file
// in the same directory (os.CreateTemp: never a leftover file or a
// symbolic link someone placed there), synced and renamed over name, then
// syncs the directory: a Reloader never reads half a file, and a crash
// leaves the old file or the new one. It blocks on the file system.
func writeFile(name string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("tlsconf: %w", err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot sync a
// directory; there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// exists reports whether name exists (a dangling symbolic link counts).
func exists(name string) (bool, error) {
	_, err := os.Lstat(name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("tlsconf: %w", err)
	}
}
