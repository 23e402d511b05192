package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The recovery point file, drawn in format.go.
const (
	recoveryPointFile    = "recovery-point"
	recoveryPointTmpFile = "recovery-point.tmp"
	maxRecoveryPointSize = 64 // two int64s in decimal, a space and a newline fit
)

// recoveryPoint is a position in the log: byte pos of the segment whose
// base offset is base. Every byte of the log before it is durable.
type recoveryPoint struct {
	base, pos int64
}

// before reports whether p comes before q in the log.
func (p recoveryPoint) before(q recoveryPoint) bool {
	return p.base < q.base || (p.base == q.base && p.pos < q.pos)
}

func (p recoveryPoint) encode() []byte {
	return fmt.Appendf(nil, "%d %d\n", p.base, p.pos)
}

// parseRecoveryPoint parses the file's content, strictly: only what encode
// writes (no sign, no leading zeros, one space, one newline) is accepted.
func parseRecoveryPoint(data []byte) (recoveryPoint, bool) {
	if len(data) > maxRecoveryPointSize {
		return recoveryPoint{}, false
	}
	s, ok := strings.CutSuffix(string(data), "\n")
	if !ok {
		return recoveryPoint{}, false
	}
	a, b, ok := strings.Cut(s, " ")
	if !ok {
		return recoveryPoint{}, false
	}
	base, err1 := strconv.ParseInt(a, 10, 64)
	pos, err2 := strconv.ParseInt(b, 10, 64)
	rp := recoveryPoint{base: base, pos: pos}
	if err1 != nil || err2 != nil || base < 0 || pos < 0 || string(rp.encode()) != string(data) {
		return recoveryPoint{}, false
	}
	return rp, true
}

// readRecoveryPoint reads dir's recovery point. found is false when there is
// no file. A file that does not parse is a *CorruptError: it is written
// atomically, so a malformed one is damage, not a torn write.
func readRecoveryPoint(fsys FS, dir string) (rp recoveryPoint, found bool, err error) {
	path := filepath.Join(dir, recoveryPointFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return recoveryPoint{}, false, nil
	}
	if err != nil {
		return recoveryPoint{}, false, fmt.Errorf("log: open recovery point: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return recoveryPoint{}, false, fmt.Errorf("log: stat recovery point: %w", err)
	}
	if st.Size() > maxRecoveryPointSize {
		return recoveryPoint{}, false, &CorruptError{File: path, Reason: fmt.Sprintf("recovery point file of %d bytes", st.Size())}
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return recoveryPoint{}, false, fmt.Errorf("log: read recovery point: %w", err)
	}
	rp, ok := parseRecoveryPoint(data)
	if !ok {
		return recoveryPoint{}, false, &CorruptError{File: path,
			Reason: fmt.Sprintf("malformed recovery point %q (removing the file makes Open verify every segment)", data)}
	}
	return rp, true, nil
}

// writeRecoveryPoint replaces dir's recovery point atomically: it writes a
// temporary file, fsyncs it, renames it over the old one and fsyncs dir. A
// crash leaves the old recovery point or the new one. The caller makes sure
// everything before rp is durable first.
func writeRecoveryPoint(fsys FS, dir string, rp recoveryPoint) error {
	if err := replaceFile(fsys, dir, recoveryPointFile, recoveryPointTmpFile, rp.encode()); err != nil {
		return fmt.Errorf("log: write recovery point: %w", err)
	}
	return nil
}

// replaceFile replaces dir/name with data atomically: it writes tmp, fsyncs
// it, renames it over name and fsyncs dir. A crash leaves the old content or
// the new one. On error tmp is removed.
func replaceFile(fsys FS, dir, name, tmp string, data []byte) error {
	tmpPath := filepath.Join(dir, tmp)
	f, err := fsys.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmpPath, filepath.Join(dir, name))
	}
	if err != nil {
		fsys.Remove(tmpPath)
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

// advanceRecoveryPoint records rp as the recovery point if it is past the
// current one. The caller has made everything before rp durable. On error
// the file holds the old recovery point or rp, both true.
func (l *Log) advanceRecoveryPoint(rp recoveryPoint) error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	if !l.rp.before(rp) {
		return nil
	}
	if err := writeRecoveryPoint(l.cfg.FS, l.dir, rp); err != nil {
		return err
	}
	l.rp = rp
	return nil
}

// lowerRecoveryPoint moves the recovery point back to rp if it is past it,
// before Truncate cuts the log there. Lowering is always safe: it only makes
// the next Open verify more. On error the file may still hold the old
// recovery point, so the caller must not cut.
func (l *Log) lowerRecoveryPoint(rp recoveryPoint) error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	if !rp.before(l.rp) {
		return nil
	}
	if err := writeRecoveryPoint(l.cfg.FS, l.dir, rp); err != nil {
		return err
	}
	l.rp = rp
	return nil
}
