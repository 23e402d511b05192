package brokertest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReplaceInData changes node i's stored partition data behind its back, as
// silent disk corruption or a bug would: every occurrence of old in its
// segment files (*.log under DataDir/fsm) becomes new (of the same
// length), and the CRC of every batch in a changed file is recomputed
// (CRC32C over the batch from its magic byte, see log/format.go), so the
// log opens without noticing. The node must be down (Kill or Shutdown).
// It returns how many segment files it changed; the test fails if the
// node is up, the lengths differ, or a file cannot be rewritten.
func (c *Cluster) ReplaceInData(i int, old, new []byte) int {
	c.t.Helper()
	if c.brokers[i] != nil {
		c.t.Fatalf("brokertest: ReplaceInData on n%d, which is running", i+1)
	}
	if len(old) != len(new) || len(old) == 0 {
		c.t.Fatalf("brokertest: ReplaceInData needs equal, non-empty lengths")
	}
	changed := 0
	root := filepath.Join(c.cfgs[i].DataDir, "fsm")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") || strings.Contains(path, "snapshot") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(b, old) {
			return err
		}
		b = bytes.ReplaceAll(b, old, new)
		castagnoli := crc32.MakeTable(crc32.Castagnoli)
		for pos := 0; pos+8 <= len(b); {
			n := int(binary.BigEndian.Uint32(b[pos:]))
			end := pos + 4 + n
			if n < 4 || end > len(b) {
				break // a torn tail: leave it to recovery
			}
			binary.BigEndian.PutUint32(b[pos+4:], crc32.Checksum(b[pos+8:end], castagnoli))
			pos = end
		}
		changed++
		return os.WriteFile(path, b, 0o644)
	})
	if err != nil {
		c.t.Fatalf("brokertest: ReplaceInData on n%d: %v", i+1, err)
	}
	return changed
}
