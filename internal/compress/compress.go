package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	mlog "github.com/minibroker/minibroker/log"
)

// DefaultLimit is Decompress's bound on decompressed output.
const DefaultLimit = 64 << 20

// zstdMaxWindow bounds the window a zstd frame may ask the decoder for
// (what it allocates up front); producers use far less (franz-go 64 KiB,
// zstd's default levels at most 8 MiB).
const zstdMaxWindow = 32 << 20

// xerialMagic starts snappy-java's framed format.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16 // magic, version, compatible version

// Decompress is DecompressLimit with DefaultLimit.
func Decompress(codec mlog.Compression, dst, src []byte) ([]byte, error) {
	return DecompressLimit(codec, dst, src, DefaultLimit)
}

// DecompressLimit decompresses src, compressed with codec, and appends the
// result to dst, which it returns (grown, like append). CompressionNone
// appends src as it is. If the output would exceed limit bytes it stops and
// returns a *TooLargeError (ErrTooLarge); other errors are ErrCorrupt and
// ErrUnknownCodec, wrapped. On error the returned slice is dst as passed.
// It is safe for concurrent use.
func DecompressLimit(codec mlog.Compression, dst, src []byte, limit int) ([]byte, error) {
	limit = max(limit, 0)
	var out []byte
	var err error
	switch codec {
	case mlog.CompressionNone:
		if len(src) > limit {
			return dst, &TooLargeError{Codec: codec, Limit: limit}
		}
		return append(dst, src...), nil
	case mlog.CompressionGzip, mlog.CompressionSnappy, mlog.CompressionLZ4, mlog.CompressionZstd:
		if len(src) == 0 {
			// Every codec writes something even for no data; the lz4
			// and zstd readers would take nothing for an empty stream.
			return dst, corrupt(codec, errors.New("no compressed data"))
		}
	}
	switch codec {
	case mlog.CompressionGzip:
		out, err = gunzip(dst, src, limit)
	case mlog.CompressionSnappy:
		out, err = unsnappy(dst, src, limit)
	case mlog.CompressionLZ4:
		out, err = unlz4(dst, src, limit)
	case mlog.CompressionZstd:
		out, err = unzstd(dst, src, limit)
	default:
		return dst, fmt.Errorf("%w: %d", ErrUnknownCodec, codec)
	}
	if err != nil {
		return dst, err
	}
	return out, nil
}

// readLimited appends what r yields to dst, failing with a *TooLargeError
// once more than limit bytes came; it never reads more than limit+1.
// Errors from r are ErrCorrupt.
func readLimited(codec mlog.Compression, dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		got := len(dst) - start
		if got > limit {
			return dst[:start], &TooLargeError{Codec: codec, Limit: limit}
		}
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(4096, got), limit+1-got))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), start+limit+1)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst)-start > limit {
				return dst[:start], &TooLargeError{Codec: codec, Limit: limit}
			}
			return dst, nil
		}
		if err != nil {
			return dst[:start], corrupt(codec, err)
		}
	}
}

var gzipReaders sync.Pool // *gzip.Reader

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	br := bytes.NewReader(src)
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return dst, corrupt(mlog.CompressionGzip, err)
	}
	defer gzipReaders.Put(zr)
	return readLimited(mlog.CompressionGzip, dst, zr, limit)
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	zr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return readLimited(mlog.CompressionLZ4, dst, zr, limit)
}

var zstdReaders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		return err
	}
	return d
}}

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	v := zstdReaders.Get()
	d, ok := v.(*zstd.Decoder)
	if !ok {
		return dst, fmt.Errorf("compress: zstd decoder: %v", v)
	}
	defer zstdReaders.Put(d)
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		return dst, corrupt(mlog.CompressionZstd, err)
	}
	out, err := readLimited(mlog.CompressionZstd, dst, d, limit)
	d.Reset(nil) // drop the reference to src
	return out, err
}

// unsnappy decodes a raw snappy block or a xerial-framed stream.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, limit, limit)
	}
	if len(src) < xerialHeaderSize {
		return dst, corrupt(mlog.CompressionSnappy, errors.New("short xerial header"))
	}
	out := dst
	var err error
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return dst, corrupt(mlog.CompressionSnappy, errors.New("torn xerial chunk length"))
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) {
			return dst, corrupt(mlog.CompressionSnappy, fmt.Errorf("xerial chunk of %d bytes, %d left", n, len(rest)-4))
		}
		if out, err = snappyBlock(out, rest[4:4+n], limit-(len(out)-len(dst)), limit); err != nil {
			return dst, err
		}
		rest = rest[4+n:]
	}
	return out, nil
}

// snappyBlock appends the decoded raw snappy block src to dst if it
// decodes to at most room bytes (limit is the caller's, for the error).
func snappyBlock(dst, src []byte, room, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return dst, corrupt(mlog.CompressionSnappy, err)
	}
	if n > room {
		return dst, &TooLargeError{Codec: mlog.CompressionSnappy, Limit: limit}
	}
	out := slices.Grow(dst, n)
	if _, err := s2.Decode(out[len(out):len(out)+n], src); err != nil {
		return dst, corrupt(mlog.CompressionSnappy, err)
	}
	return out[:len(out)+n], nil
}

// Compress compresses src with codec and appends the result to dst, which
// it returns (grown, like append): a gzip member, a raw snappy block, an lz4
// frame or a zstd frame, as franz-go writes them. CompressionNone appends
// src as it is. It returns ErrUnknownCodec (wrapped) for another codec. It
// is safe for concurrent use.
func Compress(codec mlog.Compression, dst, src []byte) ([]byte, error) {
	switch codec {
	case mlog.CompressionNone:
		return append(dst, src...), nil
	case mlog.CompressionGzip:
		return gzipBytes(dst, src)
	case mlog.CompressionSnappy:
		out := slices.Grow(dst, s2.MaxEncodedLen(len(src)))
		enc := s2.EncodeSnappy(out[len(out):cap(out)], src)
		return out[:len(out)+len(enc)], nil
	case mlog.CompressionLZ4:
		return lz4Bytes(dst, src)
	case mlog.CompressionZstd:
		v := zstdWriters.Get()
		e, ok := v.(*zstd.Encoder)
		if !ok {
			return dst, fmt.Errorf("compress: zstd encoder: %v", v)
		}
		defer zstdWriters.Put(e)
		return e.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: %d", ErrUnknownCodec, codec)
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipBytes(dst, src []byte) ([]byte, error) {
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	w := &appendWriter{b: dst}
	zw.Reset(w)
	if _, err := zw.Write(src); err != nil {
		return dst, fmt.Errorf("compress: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return dst, fmt.Errorf("compress: gzip: %w", err)
	}
	zw.Reset(nil)
	return w.b, nil
}

var lz4Writers = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}

func lz4Bytes(dst, src []byte) ([]byte, error) {
	zw := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(zw)
	w := &appendWriter{b: dst}
	zw.Reset(w)
	if _, err := zw.Write(src); err != nil {
		return dst, fmt.Errorf("compress: lz4: %w", err)
	}
	if err := zw.Close(); err != nil {
		return dst, fmt.Errorf("compress: lz4: %w", err)
	}
	zw.Reset(nil)
	return w.b, nil
}

var zstdWriters = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(64<<10), zstd.WithZeroFrames(true))
	if err != nil {
		return err
	}
	return e
}}
