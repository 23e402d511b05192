package wire

import "github.com/vmihailenco/msgpack/v5"

// Access-control lists: CreateACLs, DeleteACLs, DescribeACLs. All are
// served by the leader and need the cluster Alter permission (Describe for
// DescribeACLs). The numeric fields use Kafka's numbering (see
// internal/auth): resource type 1 any, 2 topic, 3 group, 4 cluster;
// pattern 1 any, 2 match, 3 literal, 4 prefixed; operation 1 any, 2 all,
// 3 read, 4 write, 5 create, 6 delete, 7 alter, 8 describe, 9 cluster
// action, 10 describe configs, 11 alter configs, 12 idempotent write;
// permission 1 any, 2 deny, 3 allow.

// ACL is one access-control entry, or a filter of them (where the "any"
// values and empty strings match everything). On the wire: [Principal,
// Host, Resource, Pattern, Name, Operation, Permission].
type ACL struct {
	_msgpack struct{} `msgpack:",as_array"`

	Principal  string // "User:alice" or "User:*"
	Host       string // "*"
	Resource   int8
	Pattern    int8
	Name       string
	Operation  int8
	Permission int8
}

// CreateACLsRequest adds ACLs (API key CreateACLs); one invalid ACL
// rejects them all with CodeMalformed. On the wire: [ACLs].
type CreateACLsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	ACLs []ACL
}

// CreateACLsResponse answers a CreateACLsRequest. On the wire: [ErrorCode,
// ErrorMessage].
type CreateACLsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

// DeleteACLsRequest removes the ACLs each filter selects (API key
// DeleteACLs). On the wire: [Filters].
type DeleteACLsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Filters []ACL
}

// DeleteACLsResponse lists the ACLs removed. On the wire: [ErrorCode,
// ErrorMessage, Deleted].
type DeleteACLsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Deleted      []ACL
}

// DescribeACLsRequest lists the ACLs a filter selects (API key
// DescribeACLs). On the wire: [Filter].
type DescribeACLsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Filter ACL
}

// DescribeACLsResponse answers a DescribeACLsRequest, sorted. On the wire:
// [ErrorCode, ErrorMessage, ACLs].
type DescribeACLsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	ACLs         []ACL
}

// Err returns the response's error, or nil.
func (r *CreateACLsResponse) Err() error { return ResponseError(r.ErrorCode, r.ErrorMessage) }

// Err returns the response's error, or nil.
func (r *DeleteACLsResponse) Err() error { return ResponseError(r.ErrorCode, r.ErrorMessage) }

// Err returns the response's error, or nil.
func (r *DescribeACLsResponse) Err() error { return ResponseError(r.ErrorCode, r.ErrorMessage) }

const (
	aclFields          = 7
	minACLSize         = 1 + aclFields
	aclListFields      = 1
	aclResponseFields  = 2
	aclListRespFields  = 3
	describeACLsFields = 1
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ACL) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclFields)
	w.string(m.Principal)
	w.string(m.Host)
	w.int(int64(m.Resource))
	w.int(int64(m.Pattern))
	w.string(m.Name)
	w.int(int64(m.Operation))
	w.int(int64(m.Permission))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ACL) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ACL{}
	var f fieldReader
	f.begin(d, "ACL", aclFields)
	f.string(&m.Principal)
	f.string(&m.Host)
	f.int8(&m.Resource)
	f.int8(&m.Pattern)
	f.string(&m.Name)
	f.int8(&m.Operation)
	f.int8(&m.Permission)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CreateACLsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclListFields)
	encodeSliceField(&w, m.ACLs)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CreateACLsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CreateACLsRequest{}
	var f fieldReader
	f.begin(d, "CreateACLsRequest", aclListFields)
	sliceField(&f, &m.ACLs, minACLSize, "ACLs")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CreateACLsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CreateACLsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CreateACLsResponse{}
	var f fieldReader
	f.begin(d, "CreateACLsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteACLsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclListFields)
	encodeSliceField(&w, m.Filters)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteACLsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteACLsRequest{}
	var f fieldReader
	f.begin(d, "DeleteACLsRequest", aclListFields)
	sliceField(&f, &m.Filters, minACLSize, "Filters")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteACLsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclListRespFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Deleted)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteACLsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteACLsResponse{}
	var f fieldReader
	f.begin(d, "DeleteACLsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Deleted, minACLSize, "Deleted")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeACLsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, describeACLsFields)
	w.structField(m.Filter)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeACLsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeACLsRequest{}
	var f fieldReader
	f.begin(d, "DescribeACLsRequest", describeACLsFields)
	f.structField(&m.Filter)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeACLsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, aclListRespFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.ACLs)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeACLsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeACLsResponse{}
	var f fieldReader
	f.begin(d, "DescribeACLsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.ACLs, minACLSize, "ACLs")
	return f.done()
}
