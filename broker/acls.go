package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// Native ACL administration: CreateACLs, DeleteACLs, DescribeACLs. The
// connection's permission (cluster Alter, or Describe to list) is checked
// in conn.authorizeRequest before these run.

// aclFromWire converts a wire ACL (or filter) to auth's type; the numbers
// are the same.
func aclFromWire(a wire.ACL) auth.ACL {
	return auth.ACL{Principal: a.Principal, Host: a.Host, Resource: auth.ResourceType(a.Resource),
		Pattern: auth.PatternType(a.Pattern), Name: a.Name, Operation: auth.Operation(a.Operation),
		Permission: auth.Permission(a.Permission)}
}

func aclToWire(a auth.ACL) wire.ACL {
	return wire.ACL{Principal: a.Principal, Host: a.Host, Resource: int8(a.Resource), Pattern: int8(a.Pattern),
		Name: a.Name, Operation: int8(a.Operation), Permission: int8(a.Permission)}
}

func filterFromWire(a wire.ACL) auth.Filter {
	return auth.Filter{Principal: a.Principal, Host: a.Host, Resource: auth.ResourceType(a.Resource),
		Pattern: auth.PatternType(a.Pattern), Name: a.Name, Operation: auth.Operation(a.Operation),
		Permission: auth.Permission(a.Permission)}
}

func aclsToWire(acls []auth.ACL) []wire.ACL {
	out := make([]wire.ACL, len(acls))
	for i, a := range acls {
		out[i] = aclToWire(a)
	}
	return out
}

// aclErr is an ACL request's error code: an invalid ACL or filter is
// CodeMalformed.
func (b *Broker) aclErr(err error) (wire.Code, string) {
	if errors.Is(err, replication.ErrInvalidACL) {
		return wire.CodeMalformed, err.Error()
	}
	return codeOf(err), b.errText(err)
}

// createACLs adds ACLs through Raft, on the leader.
func (b *Broker) createACLs(ctx context.Context, req *wire.CreateACLsRequest) wire.CreateACLsResponse {
	acls := make([]auth.ACL, len(req.ACLs))
	for i, a := range req.ACLs {
		acls[i] = aclFromWire(a)
	}
	var resp wire.CreateACLsResponse
	if err := b.store.CreateACLs(ctx, acls); err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.aclErr(err)
	}
	return resp
}

// deleteACLs removes the ACLs the filters select, on the leader.
func (b *Broker) deleteACLs(ctx context.Context, req *wire.DeleteACLsRequest) wire.DeleteACLsResponse {
	filters := make([]auth.Filter, len(req.Filters))
	for i, f := range req.Filters {
		filters[i] = filterFromWire(f)
	}
	var resp wire.DeleteACLsResponse
	per, err := b.store.DeleteACLs(ctx, filters)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.aclErr(err)
		return resp
	}
	var all []auth.ACL
	for _, p := range per {
		all = append(all, p...)
	}
	slices.SortFunc(all, auth.Compare)
	resp.Deleted = aclsToWire(slices.Compact(all))
	return resp
}

// describeACLs lists the ACLs a filter selects from this node's applied
// state.
func (b *Broker) describeACLs(req *wire.DescribeACLsRequest) wire.DescribeACLsResponse {
	f := filterFromWire(req.Filter)
	var resp wire.DescribeACLsResponse
	if err := auth.ValidateFilter(f); err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.aclErr(err)
		return resp
	}
	resp.ACLs = aclsToWire(b.store.FSM().MatchACLs(f))
	return resp
}

// leaderToAsk returns the leader's client address, or an error when this
// node is the leader's own or none is known.
func (b *Broker) leaderToAsk() (string, error) {
	_, addr := b.leaderClientAddr()
	if addr == "" || addr == b.addr {
		return "", fmt.Errorf("%w: no leader known", ErrNoLeader)
	}
	return addr, nil
}

// createACLsAnywhere is kafka.Config.CreateACLs: through the Store on the
// ready leader, else asked of the leader over the native protocol (the
// Kafka connection's permission was checked here).
func (b *Broker) createACLsAnywhere(ctx context.Context, acls []auth.ACL) error {
	if b.store.Node().IsReady() {
		return b.store.CreateACLs(ctx, acls)
	}
	addr, err := b.leaderToAsk()
	if err != nil {
		return err
	}
	var resp wire.CreateACLsResponse
	if err := b.callPeer(ctx, addr, wire.CreateACLs, &wire.CreateACLsRequest{ACLs: aclsToWire(acls)}, &resp); err != nil {
		return err
	}
	return resp.Err()
}

// deleteACLsAnywhere is kafka.Config.DeleteACLs, like createACLsAnywhere.
// From a follower, what each filter removed is the leader's answer
// selected by the filter.
func (b *Broker) deleteACLsAnywhere(ctx context.Context, filters []auth.Filter) ([][]auth.ACL, error) {
	if b.store.Node().IsReady() {
		return b.store.DeleteACLs(ctx, filters)
	}
	addr, err := b.leaderToAsk()
	if err != nil {
		return nil, err
	}
	req := &wire.DeleteACLsRequest{Filters: make([]wire.ACL, len(filters))}
	for i, f := range filters {
		req.Filters[i] = wire.ACL{Principal: f.Principal, Host: f.Host, Resource: int8(f.Resource), Pattern: int8(f.Pattern),
			Name: f.Name, Operation: int8(f.Operation), Permission: int8(f.Permission)}
	}
	var resp wire.DeleteACLsResponse
	if err := b.callPeer(ctx, addr, wire.DeleteACLs, req, &resp); err != nil {
		return nil, err
	}
	if err := resp.Err(); err != nil {
		return nil, err
	}
	out := make([][]auth.ACL, len(filters))
	for _, w := range resp.Deleted {
		a := aclFromWire(w)
		for i, f := range filters {
			if f.Matches(a) {
				out[i] = append(out[i], a)
			}
		}
	}
	return out, nil
}
