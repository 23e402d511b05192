package wire

import "testing"

// aclSamples are example messages of the ACL APIs; they feed the
// round-trip tests and the fuzzers' seeds like samples().
func aclSamples() []sample {
	a := ACL{Principal: "User:alice", Host: "*", Resource: 2, Pattern: 3, Name: "orders", Operation: 3, Permission: 3}
	b := ACL{Principal: "User:*", Host: "*", Resource: 3, Pattern: 4, Name: "app-", Operation: 2, Permission: 2}
	any := ACL{Resource: 1, Pattern: 1, Operation: 1, Permission: 1}
	return []sample{
		{"CreateACLsRequest", CreateACLs, false, &CreateACLsRequest{ACLs: []ACL{a, b}},
			func() message { return new(CreateACLsRequest) }},
		{"CreateACLsResponse", CreateACLs, true, &CreateACLsResponse{ErrorCode: CodeMalformed, ErrorMessage: "bad host"},
			func() message { return new(CreateACLsResponse) }},
		{"DeleteACLsRequest", DeleteACLs, false, &DeleteACLsRequest{Filters: []ACL{any, a}},
			func() message { return new(DeleteACLsRequest) }},
		{"DeleteACLsResponse", DeleteACLs, true, &DeleteACLsResponse{Deleted: []ACL{a}},
			func() message { return new(DeleteACLsResponse) }},
		{"DescribeACLsRequest", DescribeACLs, false, &DescribeACLsRequest{Filter: any},
			func() message { return new(DescribeACLsRequest) }},
		{"DescribeACLsResponse", DescribeACLs, true, &DescribeACLsResponse{ACLs: []ACL{a, b}},
			func() message { return new(DescribeACLsResponse) }},
		{"DescribeACLsResponseError", DescribeACLs, true, &DescribeACLsResponse{ErrorCode: CodeClusterAuthorization, ErrorMessage: "no"},
			func() message { return new(DescribeACLsResponse) }},
	}
}

func FuzzACL(f *testing.F) {
	f.Add(marshal([]any{"User:a", "*", -1, 127, "", 3, 3, "extra"}))
	fuzzMessage(f, func() message { return new(ACL) })
}

func FuzzCreateACLsRequest(f *testing.F) {
	f.Add(marshal([]any{[]any{[]any{"User:a", "*", 2, 3, "t", 3, 3}, nil}}))
	fuzzMessage(f, func() message { return new(CreateACLsRequest) })
}

func FuzzCreateACLsResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(CreateACLsResponse) })
}

func FuzzDeleteACLsRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(DeleteACLsRequest) })
}

func FuzzDeleteACLsResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(DeleteACLsResponse) })
}

func FuzzDescribeACLsRequest(f *testing.F) {
	f.Add(marshal([]any{[]any{"", "", 1, 1, "", 1, 1}}))
	fuzzMessage(f, func() message { return new(DescribeACLsRequest) })
}

func FuzzDescribeACLsResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(DescribeACLsResponse) })
}
