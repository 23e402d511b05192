package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCertsCreateRefusesBadNames: `certs create` refuses (usage error,
// nothing written) a client named like a node and names that would leave
// --dir; a good name is written (the control).
func TestCertsCreateRefusesBadNames(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"--clients", "node:evil"},
		{"--clients", "../alice"},
		{"--nodes", "n1/x"},
		{"--nodes", ".."},
	} {
		dir := filepath.Join(t.TempDir(), "certs")
		wantExit(t, c.run(append([]string{"certs", "create", "--dir", dir}, args...)...), exitUsage, "invalid node or client name")
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%v: %s was created (%v)", args, dir, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "certs")
	wantExit(t, c.run("certs", "create", "--dir", dir, "--clients", "alice"), exitOK)
}
