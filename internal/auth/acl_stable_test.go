package auth

import (
	"errors"
	"strings"
	"testing"
)

// TestNameChecksDoNotDependOnUnicodeTables: what Apply checks (user
// names, ACL principals and resource names) is valid UTF-8 without C0 or
// C1 controls or DEL; whether a code point is assigned or printable in
// this Go's Unicode tables does not matter, so every replica agrees
// whatever Go built it.
func TestNameChecksDoNotDependOnUnicodeTables(t *testing.T) {
	acl := func(user, name string) ACL {
		return ACL{Principal: "User:" + user, Host: "*", Resource: ResourceTopic, Pattern: PatternLiteral,
			Name: name, Operation: OpRead, Permission: PermissionAllow}
	}
	// U+0378 is unassigned today (a later Unicode may assign it); U+00A0
	// and U+200B are not "printable" by unicode.IsPrint.
	for _, s := range []string{"a\u0378", "a\u00a0b", "a\u200bb", "\U000e0001x"} {
		if err := ValidateUserName(s); err != nil {
			t.Errorf("ValidateUserName(%q): %v", s, err)
		}
		if err := ValidateACL(acl(s, s)); err != nil {
			t.Errorf("ValidateACL(%q): %v", s, err)
		}
	}
	for _, s := range []string{"a\x00", "a\x1fb", "a\x7f", "a\u0085", "a\u009f", "a\xff", "\xc3"} {
		if err := ValidateUserName(s); !errors.Is(err, ErrInvalidUserName) {
			t.Errorf("ValidateUserName(%q): %v, want ErrInvalidUserName", s, err)
		}
		if err := ValidateACL(acl("alice", s)); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("ValidateACL name %q: %v, want ErrInvalidACL", s, err)
		}
		if err := ValidateACL(acl(s, "t")); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("ValidateACL principal %q: %v, want ErrInvalidACL", s, err)
		}
	}
	// The richer check, for the broker before Raft only.
	if PrintableText("a\u200bb") || !PrintableText("alice") {
		t.Error("PrintableText")
	}
}

// TestACLPrincipalNameAsLongAsAUserName: an ACL may name any user,
// including one whose name has MaxUserNameLen bytes.
func TestACLPrincipalNameAsLongAsAUserName(t *testing.T) {
	name := strings.Repeat("u", MaxUserNameLen)
	if err := ValidateUserName(name); err != nil {
		t.Fatal(err)
	}
	a := ACL{Principal: "User:" + name, Host: "*", Resource: ResourceTopic, Pattern: PatternLiteral,
		Name: "t", Operation: OpRead, Permission: PermissionAllow}
	if err := ValidateACL(a); err != nil {
		t.Fatalf("ACL for a user of %d bytes: %v", len(name), err)
	}
	a.Principal += "u"
	if err := ValidateACL(a); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("ACL for a user of %d bytes: %v, want ErrInvalidACL", MaxUserNameLen+1, err)
	}
}
