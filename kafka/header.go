package kafka

import (
	"encoding/binary"
	"fmt"
)

// requestHeader is a Kafka request header (v1, or v2 with tagged fields
// for flexible versions; v0, without the client id, is not sent by any
// client that speaks the versions this package serves).
type requestHeader struct {
	Key      int16
	Version  int16
	Corr     int32
	ClientID *string // nil: null
}

// parseHeaderStart parses the fields every request header version starts
// with: api key, version, correlation id.
func parseHeaderStart(b []byte) (requestHeader, error) {
	if len(b) < 8 {
		return requestHeader{}, fmt.Errorf("%w: %d-byte request header", errMalformed, len(b))
	}
	return requestHeader{
		Key:     int16(binary.BigEndian.Uint16(b[0:])),
		Version: int16(binary.BigEndian.Uint16(b[2:])),
		Corr:    int32(binary.BigEndian.Uint32(b[4:])),
	}, nil
}

// parseHeader parses a request header from the start of a frame: api key,
// version, correlation id, client id, and, when flexible (request header
// v2), the tagged fields, which are skipped. It returns the header and the
// body after it. It never panics and never allocates more than the client
// id; a truncated or malformed header is an error wrapping errMalformed.
func parseHeader(b []byte, flexible bool) (requestHeader, []byte, error) {
	h, err := parseHeaderStart(b)
	if err != nil {
		return h, nil, err
	}
	b = b[8:]
	if len(b) < 2 {
		return h, nil, fmt.Errorf("%w: truncated client id", errMalformed)
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(b):
		return h, nil, fmt.Errorf("%w: client id length %d with %d bytes left", errMalformed, n, len(b))
	default:
		id := string(b[:n])
		h.ClientID = &id
		b = b[n:]
	}
	if !flexible {
		return h, b, nil
	}
	b, err = skipTags(b)
	return h, b, err
}

// skipTags skips a tagged-field section: a count, then per field a tag, a
// size and that many bytes (all unsigned varints but the bytes).
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", errMalformed)
	}
	b = b[n:]
	if count > uint64(len(b)) { // every field takes at least two bytes
		return nil, fmt.Errorf("%w: %d tagged fields in %d bytes", errMalformed, count, len(b))
	}
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", errMalformed)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", errMalformed)
		}
		b = b[n+int(size):]
	}
	return b, nil
}
