package compress

import (
	"errors"
	"fmt"

	mlog "github.com/minibroker/minibroker/log"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrTooLarge: the decompressed data exceeds the caller's limit. The
	// concrete error is a *TooLargeError.
	ErrTooLarge = errors.New("compress: decompressed data over the limit")
	// ErrCorrupt: the compressed data does not decode with its codec.
	ErrCorrupt = errors.New("compress: corrupt compressed data")
	// ErrUnknownCodec: a codec number outside 0 to 4.
	ErrUnknownCodec = errors.New("compress: unknown codec")
)

// TooLargeError reports decompressed output over Limit bytes.
type TooLargeError struct {
	Codec mlog.Compression
	Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("compress: %v data decompresses to more than %d bytes", e.Codec, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

func corrupt(codec mlog.Compression, err error) error {
	return fmt.Errorf("%w: %v: %v", ErrCorrupt, codec, err)
}
