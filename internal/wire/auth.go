package wire

import "github.com/vmihailenco/msgpack/v5"

// SaslAuthenticateRequest carries one client message of a SASL exchange
// (API key SaslAuthenticate). A broker with authentication on serves
// nothing else on a connection until the exchange succeeds. SCRAM takes
// two rounds: the client-first message (with Mechanism), then the
// client-final message (Mechanism repeated). On the wire: [Mechanism,
// Bytes].
type SaslAuthenticateRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	// Mechanism is "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string
	Bytes     []byte
}

// SaslAuthenticateResponse answers a SaslAuthenticateRequest with the
// server's next message; Done is true when the exchange succeeded (Bytes
// is then the server-final message, which the client verifies). A failure
// is CodeSaslAuthentication, after which the broker closes the connection.
// On the wire: [ErrorCode, ErrorMessage, Bytes, Done].
type SaslAuthenticateResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Bytes        []byte
	Done         bool
}

// PutUserRequest creates a user or sets its password (API key PutUser):
// the broker draws a salt and derives the SCRAM credentials of Mechanisms
// (empty: both) before replicating them; the password itself is never
// stored. Superuser sets the user's flag. Only a superuser may send it.
// Send it to the leader (a follower answers CodeNotLeader). On the wire:
// [Name, Password, Mechanisms, Superuser].
type PutUserRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name       string
	Password   string
	Mechanisms []string
	Superuser  bool
}

// PutUserResponse answers a PutUserRequest: CodeInvalidUser for a bad
// name, password or mechanism, CodeNotLeader (with the leader's address)
// from a follower. On the wire: [ErrorCode, ErrorMessage, LeaderAddr].
type PutUserResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	LeaderAddr   string
}

// DeleteUserRequest deletes a user (API key DeleteUser). Only a superuser
// may send it, to the leader. On the wire: [Name].
type DeleteUserRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name string
}

// DeleteUserResponse answers a DeleteUserRequest: CodeUnknownUser,
// CodeNotLeader. On the wire: [ErrorCode, ErrorMessage, LeaderAddr].
type DeleteUserResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	LeaderAddr   string
}

// ListUsersRequest lists the users (API key ListUsers), from the answering
// node's applied state. Only a superuser may send it. On the wire: [].
type ListUsersRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// ListUsersResponse answers a ListUsersRequest. On the wire: [ErrorCode,
// ErrorMessage, Users].
type ListUsersResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Users        []UserInfo // sorted by name
}

// UserInfo describes a user without its credentials. On the wire: [Name,
// Superuser, Mechanisms].
type UserInfo struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name       string
	Superuser  bool
	Mechanisms []string
}

const (
	saslAuthenticateRequestFields  = 2
	saslAuthenticateResponseFields = 4
	putUserRequestFields           = 4
	userResponseFields             = 3
	deleteUserRequestFields        = 1
	listUsersResponseFields        = 3
	userInfoFields                 = 3
	minUserInfoSize                = 1 + userInfoFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m SaslAuthenticateRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, saslAuthenticateRequestFields)
	w.string(m.Mechanism)
	w.bytes(m.Bytes)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *SaslAuthenticateRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = SaslAuthenticateRequest{}
	var f fieldReader
	f.begin(d, "SaslAuthenticateRequest", saslAuthenticateRequestFields)
	f.string(&m.Mechanism)
	f.bytes(&m.Bytes, nil)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m SaslAuthenticateResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, saslAuthenticateResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.bytes(m.Bytes)
	w.bool(m.Done)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *SaslAuthenticateResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = SaslAuthenticateResponse{}
	var f fieldReader
	f.begin(d, "SaslAuthenticateResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.bytes(&m.Bytes, nil)
	f.bool(&m.Done)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *SaslAuthenticateResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PutUserRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, putUserRequestFields)
	w.string(m.Name)
	w.string(m.Password)
	w.strings(m.Mechanisms)
	w.bool(m.Superuser)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PutUserRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = PutUserRequest{}
	var f fieldReader
	f.begin(d, "PutUserRequest", putUserRequestFields)
	f.string(&m.Name)
	f.string(&m.Password)
	f.strings(&m.Mechanisms)
	f.bool(&m.Superuser)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PutUserResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUserResponse(e, m.ErrorCode, m.ErrorMessage, m.LeaderAddr)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PutUserResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = PutUserResponse{}
	return decodeUserResponse(d, "PutUserResponse", &m.ErrorCode, &m.ErrorMessage, &m.LeaderAddr)
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *PutUserResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteUserRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, deleteUserRequestFields)
	w.string(m.Name)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteUserRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteUserRequest{}
	var f fieldReader
	f.begin(d, "DeleteUserRequest", deleteUserRequestFields)
	f.string(&m.Name)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteUserResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUserResponse(e, m.ErrorCode, m.ErrorMessage, m.LeaderAddr)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteUserResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteUserResponse{}
	return decodeUserResponse(d, "DeleteUserResponse", &m.ErrorCode, &m.ErrorMessage, &m.LeaderAddr)
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *DeleteUserResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

func encodeUserResponse(e *msgpack.Encoder, code Code, msg, leader string) error {
	w := beginEncode(e, userResponseFields)
	w.uint(uint64(code))
	w.string(msg)
	w.string(leader)
	return w.err
}

func decodeUserResponse(d *msgpack.Decoder, name string, code *Code, msg, leader *string) error {
	var f fieldReader
	f.begin(d, name, minResponseFields)
	f.code(code)
	f.string(msg)
	f.string(leader)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListUsersRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, 0)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListUsersRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListUsersRequest{}
	var f fieldReader
	f.begin(d, "ListUsersRequest", 0)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListUsersResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, listUsersResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Users)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListUsersResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListUsersResponse{}
	var f fieldReader
	f.begin(d, "ListUsersResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Users, minUserInfoSize, "Users")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ListUsersResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (u UserInfo) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, userInfoFields)
	w.string(u.Name)
	w.bool(u.Superuser)
	w.strings(u.Mechanisms)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (u *UserInfo) DecodeMsgpack(d *msgpack.Decoder) error {
	*u = UserInfo{}
	var f fieldReader
	f.begin(d, "UserInfo", userInfoFields)
	f.string(&u.Name)
	f.bool(&u.Superuser)
	f.strings(&u.Mechanisms)
	return f.done()
}
