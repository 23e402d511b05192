package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// Conversions between Kafka's ACL messages and internal/auth (the numbers
// are the same). A v0 request has no pattern type: literal.

func patternOf(p kmsg.ACLResourcePatternType, version int16) auth.PatternType {
	if version == 0 || p == 0 {
		return auth.PatternLiteral
	}
	return auth.PatternType(p)
}

// aclFilter builds a filter from a DescribeAcls or DeleteAcls filter;
// null strings match everything. A v0 filter is for literal patterns.
func aclFilter(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType, version int16) auth.Filter {
	return auth.Filter{Principal: deref(principal), Host: deref(host), Resource: auth.ResourceType(rt),
		Pattern: patternOf(pt, version), Name: deref(name), Operation: auth.Operation(op),
		Permission: auth.Permission(perm)}
}

// aclCode is an ACL request's error code: INVALID_REQUEST for a bad ACL or
// filter, else as codeOf; NOT_CONTROLLER off the leader.
func aclCode(err error) int16 {
	if err == nil {
		return codeNone
	}
	if errors.Is(err, auth.ErrInvalidACL) {
		return codeInvalidRequest
	}
	return createErrCode(err)
}
