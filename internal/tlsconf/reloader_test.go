package tlsconf

import (
	"errors"
	"os"
	"testing"
)

// TestReloadSeesReplacedFilesOfSameSizeAndTime: a certificate and key
// replaced by files of the same sizes whose modification times were kept
// (cp -p, rsync -t, tar) are re-read: the file identity and change time
// differ.
func TestReloadSeesReplacedFilesOfSameSizeAndTime(t *testing.T) {
	ca := newCA(t)
	f := writeNode(t, ca, t.TempDir(), "n1")
	r := reloader(t, f)
	old := r.Leaf().SerialNumber
	ci, err := os.Stat(f.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	ki, err := os.Stat(f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// ECDSA signatures vary by a byte or two: issue until the sizes match
	// (a few tries at most).
	var cp, kp []byte
	for i := 0; ; i++ {
		if cp, kp, err = ca.NodeCert("n1", nil, 0); err != nil {
			t.Fatal(err)
		}
		if int64(len(cp)) == ci.Size() && int64(len(kp)) == ki.Size() {
			break
		}
		if i == 1000 {
			t.Fatal("no certificate of the same size in 1000 tries")
		}
	}
	mustWrite(t, f.CertFile, cp)
	mustWrite(t, f.KeyFile, kp)
	for name, mod := range map[string]os.FileInfo{f.CertFile: ci, f.KeyFile: ki} {
		if err := os.Chtimes(name, mod.ModTime(), mod.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.Leaf().SerialNumber.Cmp(old) == 0 {
		t.Fatal("the replaced files (same sizes, same modification times) were not re-read")
	}
}

// TestReloadRetriesAfterAFailedLoad: after a load fails, each check
// re-reads the files even when their stamps look unchanged (a file fixed
// in a way the stamps miss, or changed between the stat and the read);
// the good files are then picked up.
func TestReloadRetriesAfterAFailedLoad(t *testing.T) {
	ca := newCA(t)
	f := writeNode(t, ca, t.TempDir(), "n1")
	r := reloader(t, f)
	old := r.Leaf().SerialNumber
	cp, kp, err := ca.NodeCert("n1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ca.NodeCert("n1", nil, 0)
	mustWrite(t, f.CertFile, cp)
	mustWrite(t, f.KeyFile, otherKey) // the wrong key: the load fails
	if err := r.Reload(); !errors.Is(err, ErrLoad) {
		t.Fatalf("Reload with a mismatched key: %v; want ErrLoad", err)
	}
	mustWrite(t, f.KeyFile, kp)
	// Make the fix invisible to the stamps.
	r.mu.Lock()
	r.stamps = r.stat()
	r.mu.Unlock()
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload after the key was fixed: %v", err)
	}
	if r.Leaf().SerialNumber.Cmp(old) == 0 {
		t.Fatal("the fixed files were not re-read after a failed load")
	}
}
