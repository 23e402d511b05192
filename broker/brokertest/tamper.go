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
// length), and the CRCs of every batch in a changed file are recomputed
// (Kafka's crc and the frame's hcrc, see log/format.go), so the log opens
// without noticing. The node must be down (Kill or Shutdown).
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
		// Frames (log format 2): meta u64, hcrc u32, then a Kafka batch
		// whose batchLength is at frame byte 20 and crc at 29, covering
		// [33, end); hcrc covers [0, 8) and [12, 33).
		for pos := 0; pos+73 <= len(b); {
			n := int(int32(binary.BigEndian.Uint32(b[pos+20:])))
			end := pos + 24 + n
			if n < 49 || end > len(b) {
				break // a torn tail: leave it to recovery
			}
			binary.BigEndian.PutUint32(b[pos+29:], crc32.Checksum(b[pos+33:end], castagnoli))
			h := crc32.Update(0, castagnoli, b[pos:pos+8])
			binary.BigEndian.PutUint32(b[pos+8:], crc32.Update(h, castagnoli, b[pos+12:pos+33]))
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
