package logtest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFullFSRefusesWritesWhileFull(t *testing.T) {
	var fs FullFS
	f, err := fs.OpenFile(filepath.Join(t.TempDir(), "seg"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("ab"), 0); err != nil {
		t.Fatal(err)
	}
	fs.SetFull(true)
	var pe *os.PathError
	if _, err := f.WriteAt([]byte("cd"), 2); !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) {
		t.Fatalf("write on a full disk: %v, want an *os.PathError wrapping ENOSPC", err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != 2 {
		t.Fatalf("a refused write changed the file: %v, %v", st, err)
	}
	fs.SetFull(false)
	if _, err := f.WriteAt([]byte("cd"), 2); err != nil {
		t.Fatal(err)
	}
	if fs.Opened() != 1 || fs.Refused() != 1 {
		t.Fatalf("opened %d, refused %d; want 1, 1", fs.Opened(), fs.Refused())
	}
}
