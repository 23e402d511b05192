package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/minibroker/minibroker/client"
)

// usageError is a mistake in how a command was called: a bad flag,
// argument, environment variable or config file entry. It exits with
// code 2. It unwraps to its cause.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf formats a *usageError (%w wraps as in fmt.Errorf).
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// hintError is an error reworded for the person at the terminal: what
// happened and what to do about it. It unwraps to the original error, so
// errors.Is still sees the client's sentinels.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// explain turns an error from the client into one that says what to do.
// brokers is the --brokers list in use; topic the topic the command was
// about ("" if none). Errors it does not know are returned as they are.
func explain(err error, brokers []string, topic string) error {
	if err == nil {
		return nil
	}
	var he *hintError
	if errors.As(err, &he) {
		return err
	}
	hint := func(format string, args ...any) error {
		return &hintError{msg: fmt.Sprintf(format, args...), err: err}
	}
	addrs := strings.Join(brokers, ",")
	switch {
	case errors.Is(err, context.Canceled):
		return hint("interrupted")
	case errors.Is(err, client.ErrSaslAuthentication):
		return hint("authentication failed at %s: check --user and the password (MINIBROKER_PASSWORD or --password-file): %v", addrs, err)
	case errors.Is(err, client.ErrUnauthenticated):
		return hint("the cluster at %s requires authentication: log in with --user and the password in MINIBROKER_PASSWORD or --password-file", addrs)
	case errors.Is(err, client.ErrClusterAuthorization):
		return hint("not authorized: %v", err)
	case errors.Is(err, client.ErrBrokerUnavailable):
		return hint("no broker reachable at %s — is `minibroker serve` running? (--brokers)", addrs)
	case errors.Is(err, client.ErrUnknownTopic) && topic != "":
		return hint("topic %q does not exist — create it with `minibroker topic create %s`", topic, topic)
	case errors.Is(err, client.ErrTopicExists) && topic != "":
		return hint("topic %q already exists — see it with `minibroker topic describe %s`", topic, topic)
	case errors.Is(err, client.ErrInvalidTopicConfig):
		return hint("the broker refused the topic's settings: %v", err)
	case errors.Is(err, client.ErrInvalidGroup):
		return hint("the cluster refused the consumer group: %v", err)
	case errors.Is(err, client.ErrTopicAuthorization), errors.Is(err, client.ErrGroupAuthorization),
		errors.Is(err, client.ErrClusterAuthorization):
		return hint("permission denied (%v) — an administrator can grant it with `minibroker acl add`", err)
	case errors.Is(err, client.ErrShuttingDown):
		return hint("the broker is shutting down — retry, or name other members in --brokers (%s): %v", addrs, err)
	case errors.Is(err, client.ErrMessageTooLarge):
		return hint("message too large: %v", err)
	case errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrNotLeader):
		return hint("the cluster at %s has no leader right now (an election, or a majority of nodes is down) — retry, and check that most nodes are up: %v", addrs, err)
	case errors.Is(err, client.ErrConnectionLost), errors.Is(err, client.ErrTimeout):
		return hint("lost the connection to the cluster at %s (a node stopped or is overloaded) — retry: %v", addrs, err)
	case errors.Is(err, context.DeadlineExceeded):
		return hint("timed out talking to the cluster at %s: %v", addrs, err)
	}
	return err
}

// explainGroup is explain for a command about a consumer group (and a
// topic of it, "" if none).
func explainGroup(err error, brokers []string, group, topic string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrUnknownGroup):
		return &hintError{err: err, msg: fmt.Sprintf("group %q does not exist — see the groups with `minibroker group list`", group)}
	case errors.Is(err, client.ErrGroupNotEmpty):
		return &hintError{err: err, msg: fmt.Sprintf("group %s has active members; stop its consumers first", group)}
	}
	return explain(err, brokers, topic)
}

// explainNode is explain for a command about the cluster node id.
func explainNode(err error, brokers []string, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrUnknownNode):
		return &hintError{err: err, msg: fmt.Sprintf("node %q is not in the cluster — see the nodes with `minibroker cluster status`", id)}
	case errors.Is(err, client.ErrMalformed):
		var se *client.ServerError
		if errors.As(err, &se) && se.Message != "" {
			return &hintError{err: err, msg: fmt.Sprintf("the cluster refused to remove node %q: %s", id, se.Message)}
		}
	}
	return explain(err, brokers, "")
}
