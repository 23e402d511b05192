package wire

import "github.com/vmihailenco/msgpack/v5"

// CreateTopicRequest creates a topic (API key CreateTopic). On the wire:
// [Name, Partitions, Config].
type CreateTopicRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name       string
	Partitions int32 // number of partitions, at least 1
	Config     TopicConfig
}

// TopicConfig holds a topic's settings. A zero field asks for the
// broker's default; a negative retention means no limit. On the wire:
// [RetentionBytes, RetentionMs, SegmentBytes].
type TopicConfig struct {
	_msgpack struct{} `msgpack:",as_array"`

	// RetentionBytes is the size per partition above which the oldest
	// segments are deleted.
	RetentionBytes int64
	// RetentionMs is the age after which a segment's records are deleted.
	RetentionMs int64
	// SegmentBytes is the size at which a partition's active segment is
	// rolled over.
	SegmentBytes int64
}

// CreateTopicResponse answers a CreateTopicRequest. On the wire:
// [ErrorCode, ErrorMessage].
type CreateTopicResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

// DeleteTopicRequest deletes a topic and its data (API key DeleteTopic).
// On the wire: [Name].
type DeleteTopicRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name string
}

// DeleteTopicResponse answers a DeleteTopicRequest. On the wire:
// [ErrorCode, ErrorMessage].
type DeleteTopicResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

const (
	createTopicRequestFields  = 3
	topicConfigFields         = 3
	createTopicResponseFields = 2
	deleteTopicRequestFields  = 1
	deleteTopicResponseFields = 2
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CreateTopicRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, createTopicRequestFields)
	w.string(m.Name)
	w.int(int64(m.Partitions))
	w.structField(m.Config)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CreateTopicRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CreateTopicRequest{}
	var f fieldReader
	f.begin(d, "CreateTopicRequest", createTopicRequestFields)
	f.string(&m.Name)
	f.int32(&m.Partitions)
	f.structField(&m.Config)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (c TopicConfig) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, topicConfigFields)
	w.int(c.RetentionBytes)
	w.int(c.RetentionMs)
	w.int(c.SegmentBytes)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *TopicConfig) DecodeMsgpack(d *msgpack.Decoder) error {
	*c = TopicConfig{}
	var f fieldReader
	f.begin(d, "TopicConfig", topicConfigFields)
	f.int64(&c.RetentionBytes)
	f.int64(&c.RetentionMs)
	f.int64(&c.SegmentBytes)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CreateTopicResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, createTopicResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CreateTopicResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CreateTopicResponse{}
	var f fieldReader
	f.begin(d, "CreateTopicResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *CreateTopicResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteTopicRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, deleteTopicRequestFields)
	w.string(m.Name)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteTopicRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteTopicRequest{}
	var f fieldReader
	f.begin(d, "DeleteTopicRequest", deleteTopicRequestFields)
	f.string(&m.Name)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteTopicResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, deleteTopicResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteTopicResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteTopicResponse{}
	var f fieldReader
	f.begin(d, "DeleteTopicResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *DeleteTopicResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
