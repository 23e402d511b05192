package client

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// UserOptions are the settings of CreateUser.
type UserOptions struct {
	// Superuser may do everything, user administration included.
	Superuser bool
	// Mechanisms are the SCRAM mechanisms to store credentials for
	// (MechSCRAMSHA256, MechSCRAMSHA512); empty means both.
	Mechanisms []string
}

// UserInfo describes a user: never its credentials.
type UserInfo struct {
	Name       string
	Superuser  bool
	Mechanisms []string // the SCRAM mechanisms it can log in with
}

// CreateUser creates user name, or replaces its password and superuser
// flag if it exists. The broker draws a salt and derives the SCRAM
// credentials; the password is sent over the connection (use TLS on an
// untrusted network) and never stored. Only a superuser may call it. It
// blocks until the cluster has applied it, following leader changes and
// retrying as CreateTopic does. Errors: ErrInvalidUser (bad name,
// password or mechanism), ErrClusterAuthorization (not a superuser),
// ErrClosed, ctx's error, or the last retriable error. Safe for
// concurrent use.
func (cl *Client) CreateUser(ctx context.Context, name, password string, opt UserOptions) error {
	req := &wire.PutUserRequest{Name: name, Password: password, Mechanisms: opt.Mechanisms, Superuser: opt.Superuser}
	if err := cl.do(ctx, leaderWrite, wire.PutUser, req, new(wire.PutUserResponse), cl.cfg.RequestTimeout); err != nil {
		return fmt.Errorf("minibroker: create user %q: %w", name, err)
	}
	return nil
}

// DeleteUser deletes user name; its open connections stay logged in until
// they close. Blocking, retries and errors are as for CreateUser, with
// ErrUnknownUser for a user that does not exist. Safe for concurrent use.
func (cl *Client) DeleteUser(ctx context.Context, name string) error {
	err := cl.do(ctx, leaderWrite, wire.DeleteUser, &wire.DeleteUserRequest{Name: name}, new(wire.DeleteUserResponse), cl.cfg.RequestTimeout)
	if err != nil {
		return fmt.Errorf("minibroker: delete user %q: %w", name, err)
	}
	return nil
}

// ListUsers returns the users as the leader has them, sorted by name.
// Only a superuser may call it. It blocks until answered, retrying as
// CreateUser does. Errors: ErrClusterAuthorization, ErrClosed, ctx's
// error, or the last retriable error. Safe for concurrent use.
func (cl *Client) ListUsers(ctx context.Context) ([]UserInfo, error) {
	resp := new(wire.ListUsersResponse)
	if err := cl.do(ctx, leaderRead, wire.ListUsers, &wire.ListUsersRequest{}, resp, cl.cfg.RequestTimeout); err != nil {
		return nil, fmt.Errorf("minibroker: list users: %w", err)
	}
	out := make([]UserInfo, 0, len(resp.Users))
	for _, u := range resp.Users {
		out = append(out, UserInfo{Name: u.Name, Superuser: u.Superuser, Mechanisms: u.Mechanisms})
	}
	return out, nil
}
