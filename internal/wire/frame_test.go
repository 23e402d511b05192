package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// allocBytes returns the bytes f allocates on the heap.
func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func frameOf(payload []byte) []byte {
	b, err := AppendFrame(nil, payload)
	if err != nil {
		panic(err)
	}
	return b
}

func TestReadFrameRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	payloads := [][]byte{{1}, []byte("hello"), bytes.Repeat([]byte{7}, 3*growChunk+5)}
	for _, p := range payloads {
		if err := WriteFrame(&stream, p); err != nil {
			t.Fatal(err)
		}
	}
	r := iotest.HalfReader(&stream) // short reads must be handled
	var buf []byte
	for i, want := range payloads {
		got, err := ReadFrame(r, 0, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
		buf = got[:0]
	}
	if _, err := ReadFrame(r, 0, buf); err != io.EOF {
		t.Fatalf("after last frame: got %v, want io.EOF", err)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	frame := frameOf([]byte("0123456789"))
	buf := make([]byte, 0, 64)
	r := bytes.NewReader(frame)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(frame)
		got, err := ReadFrame(r, 0, buf)
		if err != nil || string(got) != "0123456789" {
			t.Fatalf("got %q, %v", got, err)
		}
		if &got[0] != &buf[:1][0] {
			t.Fatal("payload not read into buf")
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadFrame with a big enough buf: %v allocs, want 0", allocs)
	}
}

func TestAppendFrame(t *testing.T) {
	got, err := AppendFrame([]byte("x"), []byte("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("x\x00\x00\x00\x03abc"); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := AppendFrame(nil, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty payload: got %v, want ErrMalformed", err)
	}
	if err := WriteFrame(io.Discard, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("WriteFrame empty payload: got %v, want ErrMalformed", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteFrameError(t *testing.T) {
	boom := errors.New("boom")
	if err := WriteFrame(failWriter{boom}, []byte("x")); !errors.Is(err, boom) {
		t.Fatalf("got %v, want it to wrap the writer's error", err)
	}
}

// headerOnlyReader serves a frame header and fails the test if anything
// past it is read.
type headerOnlyReader struct {
	t   *testing.T
	hdr []byte
}

func (r *headerOnlyReader) Read(p []byte) (int, error) {
	if len(r.hdr) == 0 {
		r.t.Fatal("ReadFrame read past the length of an oversized frame")
	}
	n := copy(p, r.hdr)
	r.hdr = r.hdr[n:]
	return n, nil
}

func TestReadFrameOversizedRejectedBeforeAllocating(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		size uint32
	}{
		{"default limit", 0, DefaultMaxFrame + 1},
		{"small limit", 100, 101},
		{"max uint32", DefaultMaxFrame, 0xFFFFFFFF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocBytes(func() {
				r := &headerOnlyReader{t: t, hdr: binary.BigEndian.AppendUint32(nil, tc.size)}
				_, err = ReadFrame(r, tc.max, nil)
			})
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("got %v, want ErrFrameTooLarge", err)
			}
			var fse *FrameSizeError
			if !errors.As(err, &fse) || fse.Size != uint64(tc.size) {
				t.Fatalf("got %#v, want a *FrameSizeError with Size %d", err, tc.size)
			}
			if want := uint64(tc.max); tc.max > 0 && fse.Max != want {
				t.Fatalf("Max = %d, want %d", fse.Max, want)
			}
			if CodeOf(err) != CodeFrameTooLarge {
				t.Fatalf("CodeOf = %v", CodeOf(err))
			}
			if n > 64<<10 { // far below the announced size; slack for the runtime
				t.Fatalf("rejecting the frame allocated %d bytes", n)
			}
		})
	}
}

func TestReadFrameBadInput(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"empty stream", bytes.NewReader(nil), io.EOF},
		{"truncated length", bytes.NewReader([]byte{0, 0}), io.ErrUnexpectedEOF},
		{"truncated payload", bytes.NewReader([]byte{0, 0, 0, 10, 1, 2, 3}), io.ErrUnexpectedEOF},
		{"length only", bytes.NewReader([]byte{0, 0, 0, 10}), io.ErrUnexpectedEOF},
		{"truncated large payload", io.MultiReader(
			bytes.NewReader([]byte{0, 0x10, 0, 0}), bytes.NewReader(make([]byte, 3*growChunk))),
			io.ErrUnexpectedEOF},
		{"zero length", bytes.NewReader([]byte{0, 0, 0, 0}), ErrMalformed},
		{"reader error", io.MultiReader(bytes.NewReader([]byte{0, 0, 0, 9, 1}), iotest.ErrReader(boom)), boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(tc.r, 0, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == io.EOF && err != io.EOF {
				t.Fatalf("clean EOF should be io.EOF itself, got %#v", err)
			}
		})
	}
}

func TestReadFrameAllocationTracksReceivedBytes(t *testing.T) {
	// The peer announces a 16 MiB frame but sends only 100 KiB.
	hdr := binary.BigEndian.AppendUint32(nil, DefaultMaxFrame)
	body := make([]byte, 100<<10)
	var err error
	n := allocBytes(func() {
		_, err = ReadFrame(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(body)), 0, nil)
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if n > 1<<20 {
		t.Fatalf("allocated %d bytes for 100 KiB received", n)
	}
}
