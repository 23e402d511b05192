package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

const (
	// DefaultMaxFrame is the default limit on a frame's payload length.
	DefaultMaxFrame = 16 << 20

	// DefaultMaxMessage is the default limit on one record's size (key +
	// value + headers). The broker enforces it with CodeMessageTooLarge.
	DefaultMaxMessage = 1 << 20

	// FrameHeaderSize is the size of a frame's length prefix.
	FrameHeaderSize = 4

	// growChunk is how much ReadFrame allocates ahead of the bytes it has
	// received when it cannot reuse the caller's buffer: a peer that
	// announces a large frame and then stalls pins at most this much more
	// memory than it has sent.
	growChunk = 64 << 10
)

// FrameSizeError reports a frame whose announced length exceeds the limit.
// It unwraps to ErrFrameTooLarge.
type FrameSizeError struct {
	Size uint64 // the announced or attempted payload length
	Max  uint64 // the limit
}

// Error implements error.
func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("%v: %d bytes, limit %d", ErrFrameTooLarge, e.Size, e.Max)
}

// Unwrap returns ErrFrameTooLarge.
func (e *FrameSizeError) Unwrap() error { return ErrFrameTooLarge }

// ReadFrame reads one frame from r and returns its payload.
//
// maxFrame limits the payload length (<= 0 means DefaultMaxFrame). The
// length is checked before any payload is read or allocated; a frame over
// the limit returns an error wrapping a *FrameSizeError (errors.Is
// ErrFrameTooLarge) with the payload left unread in r, so the connection
// cannot be resynchronised and should be closed after replying.
//
// The payload is read into buf when cap(buf) is large enough, so a caller
// that passes back the previous payload (buf = payload[:0]) reads without
// allocating; the returned slice then aliases buf. Otherwise a new buffer
// is allocated, growing as bytes arrive rather than all at once.
//
// Errors: io.EOF (unwrapped) if r is at EOF before the first byte; an error
// wrapping io.ErrUnexpectedEOF if r ends inside the frame; an error
// wrapping ErrMalformed for a zero-length frame; an error wrapping r's own
// error otherwise. ReadFrame blocks until a whole frame has been read or r
// fails; it is not safe for concurrent use on the same r.
func ReadFrame(r io.Reader, maxFrame int, buf []byte) ([]byte, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if cap(buf) < FrameHeaderSize {
		buf = make([]byte, FrameHeaderSize)
	}
	hdr := buf[:FrameHeaderSize]
	if n, err := io.ReadFull(r, hdr); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("wire: reading frame length (%d of %d bytes): %w", n, FrameHeaderSize, err)
	}
	size := binary.BigEndian.Uint32(hdr)
	if size == 0 {
		return nil, fmt.Errorf("wire: zero-length frame: %w", ErrMalformed)
	}
	if uint64(size) > uint64(maxFrame) {
		return nil, fmt.Errorf("wire: reading frame: %w", &FrameSizeError{Size: uint64(size), Max: uint64(maxFrame)})
	}
	n := int(size)
	if cap(buf) >= n {
		return readPayload(r, buf[:n], 0, n)
	}
	if n <= growChunk {
		return readPayload(r, make([]byte, n), 0, n)
	}
	// Large frame: grow as data arrives, so memory tracks what the peer
	// actually sent rather than what it announced.
	p := make([]byte, growChunk)
	for have := 0; ; {
		var err error
		if p, err = readPayload(r, p, have, n); err != nil {
			return nil, err
		}
		if len(p) == n {
			return p, nil
		}
		have = len(p)
		next := min(n, 2*have)
		p = append(p, make([]byte, next-have)...)
	}
}

// readPayload fills p[have:] from r and returns p; total is the frame's
// payload length, for the error message.
func readPayload(r io.Reader, p []byte, have, total int) ([]byte, error) {
	got, err := io.ReadFull(r, p[have:])
	if err == nil {
		return p, nil
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("wire: reading frame payload (%d of %d bytes): %w", have+got, total, err)
}

// AppendFrame appends a frame holding payload (length prefix and bytes) to
// dst and returns the extended slice. It returns dst unchanged and an error
// wrapping ErrMalformed for an empty payload, or a *FrameSizeError if the
// payload does not fit a 32-bit length. Safe for concurrent use on
// different dst.
func AppendFrame(dst, payload []byte) ([]byte, error) {
	if err := checkPayloadLen(len(payload)); err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...), nil
}

// WriteFrame writes a frame holding payload to w, without copying the
// payload (it uses writev on a net.Conn). It returns the errors of
// AppendFrame and, wrapped, w's error. It blocks until w accepts the bytes;
// concurrent calls on the same w must be serialised by the caller.
func WriteFrame(w io.Writer, payload []byte) error {
	if err := checkPayloadLen(len(payload)); err != nil {
		return err
	}
	hdr := binary.BigEndian.AppendUint32(make([]byte, 0, FrameHeaderSize), uint32(len(payload)))
	bufs := net.Buffers{hdr, payload}
	if _, err := bufs.WriteTo(w); err != nil {
		return fmt.Errorf("wire: writing frame: %w", err)
	}
	return nil
}

func checkPayloadLen(n int) error {
	if n == 0 {
		return fmt.Errorf("wire: empty frame payload: %w", ErrMalformed)
	}
	if uint64(n) > math.MaxUint32 {
		return &FrameSizeError{Size: uint64(n), Max: math.MaxUint32}
	}
	return nil
}

// beginFrame appends a placeholder length prefix to dst; finishFrame fills
// it in once the payload that follows is complete.
func beginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// finishFrame writes the length of the payload following the prefix at
// start, or returns an error if the payload is empty or too long.
func finishFrame(dst []byte, start int) error {
	n := len(dst) - start - FrameHeaderSize
	if err := checkPayloadLen(n); err != nil {
		return err
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return nil
}
