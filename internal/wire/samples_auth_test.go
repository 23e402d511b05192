package wire

import "testing"

func authSamples() []sample {
	return []sample{
		{"SaslAuthenticateRequest", SaslAuthenticate, false,
			&SaslAuthenticateRequest{Mechanism: "SCRAM-SHA-512", Bytes: []byte("n,,n=alice,r=abc")},
			func() message { return new(SaslAuthenticateRequest) }},
		{"SaslAuthenticateResponse", SaslAuthenticate, true,
			&SaslAuthenticateResponse{Bytes: []byte("r=abcdef,s=c2FsdA==,i=4096")},
			func() message { return new(SaslAuthenticateResponse) }},
		{"SaslAuthenticateResponseDone", SaslAuthenticate, true,
			&SaslAuthenticateResponse{Bytes: []byte("v=xyz"), Done: true},
			func() message { return new(SaslAuthenticateResponse) }},
		{"SaslAuthenticateResponseError", SaslAuthenticate, true,
			&SaslAuthenticateResponse{ErrorCode: CodeSaslAuthentication, ErrorMessage: "authentication failed"},
			func() message { return new(SaslAuthenticateResponse) }},
		{"PutUserRequest", PutUser, false,
			&PutUserRequest{Name: "alice", Password: "pw", Mechanisms: []string{"SCRAM-SHA-256"}, Superuser: true},
			func() message { return new(PutUserRequest) }},
		{"PutUserResponse", PutUser, true,
			&PutUserResponse{ErrorCode: CodeNotLeader, ErrorMessage: "x", LeaderAddr: "127.0.0.1:9101"},
			func() message { return new(PutUserResponse) }},
		{"DeleteUserRequest", DeleteUser, false,
			&DeleteUserRequest{Name: "alice"},
			func() message { return new(DeleteUserRequest) }},
		{"DeleteUserResponse", DeleteUser, true,
			&DeleteUserResponse{ErrorCode: CodeUnknownUser, ErrorMessage: "nobody"},
			func() message { return new(DeleteUserResponse) }},
		{"ListUsersRequest", ListUsers, false,
			&ListUsersRequest{},
			func() message { return new(ListUsersRequest) }},
		{"ListUsersResponse", ListUsers, true,
			&ListUsersResponse{Users: []UserInfo{{Name: "admin", Superuser: true, Mechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}}, {Name: "bob"}}},
			func() message { return new(ListUsersResponse) }},
	}
}

func FuzzSaslAuthenticateRequest(f *testing.F) {
	f.Add(marshal([]any{"SCRAM-SHA-256", []byte("n,,n=a,r=b"), "extra"}))
	fuzzMessage(f, func() message { return new(SaslAuthenticateRequest) })
}

func FuzzSaslAuthenticateResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(SaslAuthenticateResponse) })
}

func FuzzPutUserRequest(f *testing.F) {
	f.Add(marshal([]any{"a", "p", []any{"x", 1}, true}))
	fuzzMessage(f, func() message { return new(PutUserRequest) })
}

func FuzzPutUserResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(PutUserResponse) })
}

func FuzzDeleteUserRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(DeleteUserRequest) })
}

func FuzzDeleteUserResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(DeleteUserResponse) })
}

func FuzzListUsersRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(ListUsersRequest) })
}

func FuzzListUsersResponse(f *testing.F) {
	f.Add(marshal([]any{0, "", []any{[]any{"a", true, []any{"m"}}, nil}}))
	fuzzMessage(f, func() message { return new(ListUsersResponse) })
}
