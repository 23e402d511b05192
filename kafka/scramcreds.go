package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

// Kafka's error codes of the SCRAM credential APIs.
const (
	codeResourceNotFound       int16 = 91
	codeDuplicateResource      int16 = 92
	codeUnacceptableCredential int16 = 93
)

// Kafka's ScramMechanism numbers.
var scramMechs = map[int8]string{1: auth.MechSCRAMSHA256, 2: auth.MechSCRAMSHA512}

func scramMechNum(mech string) int8 {
	for n, m := range scramMechs {
		if m == mech {
			return n
		}
	}
	return 0
}

// handleDescribeUserSCRAMCredentials lists users' mechanisms and
// iterations (never keys), from this node's applied state. It needs
// Describe on the cluster (CLUSTER_AUTHORIZATION_FAILED).
func handleDescribeUserSCRAMCredentials(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if err := c.authorize(auth.OpDescribe, auth.ResourceCluster, auth.ClusterName); err != nil {
		resp.ErrorCode = codeOf(err)
		resp.ErrorMessage = errMessage(err)
		sl.finish(resp)
		return
	}
	result := func(u replication.User) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u.Name
		for _, cr := range u.Creds {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = scramMechNum(cr.Mechanism), int32(cr.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	if len(req.Users) == 0 { // null or empty: every user, as Kafka
		for _, u := range c.s.store.Users() {
			resp.Results = append(resp.Results, result(u))
		}
		sl.finish(resp)
		return
	}
	count := map[string]int{}
	for _, ru := range req.Users {
		count[ru.Name]++
	}
	for _, ru := range req.Users {
		if count[ru.Name] < 0 {
			continue // a duplicate already answered
		}
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = ru.Name
		u, ok := c.s.store.User(ru.Name)
		switch {
		case count[ru.Name] > 1:
			count[ru.Name] = -1
			r.ErrorCode = codeDuplicateResource
			r.ErrorMessage = errMessage(errors.New("user named more than once"))
		case !ok:
			r.ErrorCode = codeResourceNotFound
			r.ErrorMessage = errMessage(fmt.Errorf("attempt to describe a user credential that does not exist: %s", ru.Name))
		default:
			r = result(u)
		}
		resp.Results = append(resp.Results, r)
	}
	sl.finish(resp)
}

// userAlter is one user's part of an AlterUserScramCredentials request.
type userAlter struct {
	name    string
	put     replication.PutUserCmd
	deletes []string
	err     error // the user's result, once known
}

// handleAlterUserSCRAMCredentials stores the salted credentials the client
// sent (their keys derived from its salted password) and deletes
// mechanisms, one Raft command per user (deletions and upsertions applied
// in one step), on the leader (NOT_CONTROLLER elsewhere). It needs Alter
// on the cluster, checked before anything else, as Kafka: without it every
// user's result is CLUSTER_AUTHORIZATION_FAILED. Only a superuser may
// change a superuser's credentials.
func handleAlterUserSCRAMCredentials(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	authErr := c.authorize(auth.OpAlter, auth.ResourceCluster, auth.ClusterName)
	var order []*userAlter
	users := map[string]*userAlter{}
	get := func(name string) *userAlter {
		if ua, ok := users[name]; ok {
			return ua
		}
		ua := &userAlter{name: name, put: replication.PutUserCmd{Name: name}, err: authErr}
		users[name] = ua
		order = append(order, ua)
		return ua
	}
	seen := map[string]bool{} // user + mechanism named once
	once := func(ua *userAlter, mech int8) bool {
		k := fmt.Sprintf("%s\x00%d", ua.name, mech)
		if seen[k] {
			ua.err = kerr(codeDuplicateResource, "a user's mechanism named more than once in one request")
			return false
		}
		seen[k] = true
		return true
	}
	for _, d := range req.Deletions {
		ua := get(d.Name)
		if ua.err != nil {
			continue
		}
		mech, ok := scramMechs[d.Mechanism]
		switch {
		case !once(ua, d.Mechanism):
		case !ok:
			ua.err = kerr(codeUnsupportedSaslMechanism, fmt.Sprintf("unknown SCRAM mechanism %d", d.Mechanism))
		default:
			ua.deletes = append(ua.deletes, mech)
		}
	}
	for _, u := range req.Upsertions {
		ua := get(u.Name)
		if ua.err != nil || !once(ua, u.Mechanism) {
			continue
		}
		mech, ok := scramMechs[u.Mechanism]
		if !ok {
			ua.err = kerr(codeUnsupportedSaslMechanism, fmt.Sprintf("unknown SCRAM mechanism %d", u.Mechanism))
			continue
		}
		cr, err := auth.CredFromSaltedPassword(mech, u.Salt, int(u.Iterations), u.SaltedPassword)
		if err != nil {
			ua.err = kerr(codeUnacceptableCredential, err.Error())
			continue
		}
		ua.put.Creds = append(ua.put.Creds, cr)
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, adminTimeout)
		defer cancel()
		resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		for _, ua := range order {
			r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			r.User = ua.name
			err := ua.err
			if err == nil {
				err = c.s.alterUser(ctx, c.principal, ua)
			}
			r.ErrorCode, r.ErrorMessage = userErrCode(err), errMessage(err)
			resp.Results = append(resp.Results, r)
		}
		sl.finish(resp)
	})
}

// alterUser applies one user's part of an AlterUserScramCredentials as one
// PutUser command: its deletions and upsertions take effect together, the
// superuser flag stays, and the user is deleted only if no credential is
// left. A principal that is not a superuser may not change a superuser
// (CLUSTER_AUTHORIZATION_FAILED, judged on this node's applied users). It
// blocks until the command is applied.
func (s *Server) alterUser(ctx context.Context, p auth.Principal, ua *userAlter) error {
	if err := auth.ValidateUserName(ua.name); err != nil {
		return kerr(codeUnacceptableCredential, err.Error())
	}
	if _, exists := s.store.User(ua.name); !exists && !auth.PrintableText(ua.name) {
		// Apply's check is laxer (it must not depend on Unicode tables).
		return kerr(codeUnacceptableCredential, fmt.Sprintf("user name %q holds a non-printable character", ua.name))
	}
	if !s.store.Node().IsReady() {
		return kerr(codeNotController, "not the Raft leader: ask the controller that Metadata names")
	}
	if u, ok := s.store.User(ua.name); ok && u.Superuser && !p.Superuser && s.authz.enforce.Load() {
		return kerr(codeClusterAuthorizationFailed, fmt.Sprintf("%s is not a superuser: only a superuser may change the superuser %q", p, ua.name))
	}
	if len(ua.put.Creds) == 0 && len(ua.deletes) == 0 {
		return nil
	}
	ua.put.Delete = ua.deletes
	return s.store.PutUser(ctx, ua.put)
}

// userErrCode maps a user command's error to Kafka's code.
func userErrCode(err error) int16 {
	var ke *kafkaError
	switch {
	case err == nil:
		return codeNone
	case errors.As(err, &ke):
		return ke.code
	case errors.Is(err, replication.ErrUnknownUser):
		return codeResourceNotFound
	case errors.Is(err, replication.ErrInvalidUser):
		return codeUnacceptableCredential
	case errors.Is(err, replication.ErrNotLeader):
		return codeNotController
	}
	return createErrCode(err)
}
