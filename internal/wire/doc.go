// Package wire is minibroker's client protocol: frames, request and
// response headers, the message types of every API, and error codes. The
// broker's network server and the Go client both build on it; it has no
// networking loop of its own.
//
// # Frames
//
// A connection carries frames in both directions. A frame is a 4-byte
// big-endian payload length N followed by N bytes of payload:
//
//	 0       1       2       3       4                         4+N
//	+-------+-------+-------+-------+-------------------------+
//	|    N (uint32, big endian)     |   payload (N bytes)     |
//	+-------+-------+-------+-------+-------------------------+
//
// N is at least 1 and at most the receiver's limit (DefaultMaxFrame,
// 16 MiB). ReadFrame checks N before reading or allocating the payload.
//
// # Payloads
//
// A payload is two msgpack values back to back: a header, then a body.
//
//	request payload:  [APIKey, APIVersion, CorrelationID] body
//	response payload: [CorrelationID]                     body
//
// The client picks the CorrelationID; the broker echoes it, so requests
// may be pipelined. The APIKey selects the body's type (MetadataRequest,
// CreateTopicRequest, DeleteTopicRequest, ProduceRequest, FetchRequest,
// ListOffsetsRequest) and the response's (the matching XxxResponse). Every
// API is versioned; CheckVersion tells a broker whether it speaks the
// version a request uses (all are v0 today).
//
// Every struct is a msgpack array of its fields in declaration order (the
// msgpack:",as_array" layout), e.g. a ProduceRequest is
//
//	[Topic, Partition, Acks, TimeoutMs, [[Offset, Timestamp, Key, Value, [[HKey, HValue]...]]...]]
//
// Integers use msgpack's smallest encoding, strings are str values, byte
// slices are bin values or nil (a nil Key is distinct from an empty one).
//
// # Evolution
//
// API keys and error codes are append-only. A later version of a message
// only appends fields. Decoders skip trailing fields they do not know and
// leave missing trailing fields zero, down to a minimum: all the v0
// fields, except for response bodies, which need only their first two
// fields. Every response body starts with ErrorCode and ErrorMessage (the
// ErrorResponse prefix), so a broker can answer any request it cannot
// handle (unknown API, unsupported version, malformed body) with an
// ErrorResponse, which the client decodes as the response type it awaits.
//
// # Errors
//
// Each Code maps to one sentinel error (ErrNotLeader, ...). A broker puts
// CodeOf(err) and err.Error() in a response; a client turns them back into
// an error with ResponseError (or the response's Err method), which
// errors.Is the sentinel. Retriable says which codes are worth a retry.
//
// # Hostile input
//
// Every type has a hand-written msgpack codec. Decoders check each
// declared length against the input that remains before allocating, so a
// frame cannot make them allocate more than a small multiple of its own
// size, and they bound the nesting of skipped unknown fields. Decode
// errors wrap ErrMalformed. Decoded byte slices never alias the input;
// the keys and values of records decoded in one batch share 32 KiB chunks,
// so keeping one record alive keeps its chunk alive.
//
// All functions are safe for concurrent use; none blocks except ReadFrame
// and WriteFrame, which block on their reader or writer.
package wire
