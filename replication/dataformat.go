package replication

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	mlog "github.com/minibroker/minibroker/log"
)

// formatFile, in a data directory, holds the log format (mlog.Format) the
// directory's partition logs and Raft entries are written in, as decimal
// ASCII and a newline. Open writes it into a new data directory before
// anything else; a directory with state but no file predates it: format 1.
const formatFile = "format"

// CheckDataFormat reports whether dataDir can be opened by this version:
// nil for a directory without state (or none at all) and for one in
// mlog.Format; a *mlog.FormatError (mlog.ErrOldFormat) naming the format
// found otherwise. It only reads. Errors: that, or a wrapped I/O error.
func CheckDataFormat(dataDir string) error {
	_, err := dataFormat(dataDir)
	return err
}

// dataFormat returns the data directory's format (0 when it holds no
// state yet) and an error if it is not mlog.Format.
func dataFormat(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, formatFile))
	if err == nil {
		n, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr != nil || n < 1 {
			return 0, fmt.Errorf("replication: %s: %q is not a format number", filepath.Join(dataDir, formatFile), b)
		}
		if n != mlog.Format {
			return n, &mlog.FormatError{Path: dataDir, Format: n}
		}
		return n, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("replication: read %s: %w", formatFile, err)
	}
	// No file: a new directory, or one made before the file existed.
	have, err := DataDirRaftLog(dataDir)
	if err != nil {
		return 0, err
	}
	if have != "" {
		return 1, &mlog.FormatError{Path: dataDir, Format: 1}
	}
	for _, name := range []string{"fsm", "snapshots"} {
		_, err := os.Stat(filepath.Join(dataDir, name))
		if err == nil {
			return 1, &mlog.FormatError{Path: dataDir, Format: 1}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("replication: stat %s: %w", name, err)
		}
	}
	return 0, nil
}

// ensureDataFormat refuses a data directory in another format and gives a
// new one the format file (fsynced, with its directory) before anything
// else is written into it.
func ensureDataFormat(dataDir string) error {
	n, err := dataFormat(dataDir)
	if err != nil || n != 0 {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("replication: data dir: %w", err)
	}
	return writeFileAtomic(filepath.Join(dataDir, formatFile), []byte(strconv.Itoa(mlog.Format)+"\n"))
}
