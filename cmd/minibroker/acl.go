package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/client"
)

func newACLCmd(a *app) *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, remove and list access-control lists (permissions)",
		Long: `Manage the cluster's access-control lists: which user may read, write,
create, delete or describe which topics, groups and the cluster. They apply
when the cluster authenticates its clients (serve --auth scram); superusers
may do everything. A deny wins over any allow; without an allow a request is
refused. See docs/security.md for what each request needs.`,
		Example: `  minibroker acl add --principal alice --topic orders --op read,write
  minibroker acl add --principal alice --group billing- --prefix --op read
  minibroker acl add --principal '*' --topic secret --op all --deny
  minibroker acl list --principal alice
  minibroker acl remove --principal alice --topic orders --op write`,
		Args: groupArgs,
		RunE: showHelp,
	}
	brokersFlag(cmd.PersistentFlags(), &brokers)
	a.loginFlags(cmd.PersistentFlags(), "password-file")
	cmd.AddCommand(newACLAddCmd(a, &brokers), newACLRemoveCmd(a, &brokers), newACLListCmd(a, &brokers))
	return cmd
}

// aclFlags are the flags that name ACLs.
type aclFlags struct {
	principal, topic, group string
	cluster, prefix, deny   bool
	ops                     []string
}

func (f *aclFlags) register(fs *pflag.FlagSet, withPermission bool) {
	fs.StringVar(&f.principal, "principal", "", `the user ("alice", "User:alice"; "*" for every user)`)
	fs.StringVar(&f.topic, "topic", "", "the topic (or, with --prefix, every topic starting with it; \"*\": every topic)")
	fs.StringVar(&f.group, "group", "", "the consumer group (or, with --prefix, every group starting with it; \"*\": every group)")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster (nodes, users, ACLs, creating any topic)")
	fs.BoolVar(&f.prefix, "prefix", false, "--topic or --group is a name prefix")
	fs.StringSliceVar(&f.ops, "op", nil, "operations: read, write, create, delete, alter, describe, describe_configs, alter_configs, idempotent_write, cluster_action, all")
	if withPermission {
		fs.BoolVar(&f.deny, "deny", false, "deny rather than allow (a deny wins over every allow)")
	}
}

// principal returns the flag's principal as ACLs name it ("User:alice").
func (f *aclFlags) fullPrincipal() string {
	p := f.principal
	if p == "" || strings.HasPrefix(p, "User:") {
		return p
	}
	return "User:" + p
}

// resource returns the one resource named, or an error unless optional
// (then 0 and "" for none).
func (f *aclFlags) resource(optional bool) (client.ACLResource, string, error) {
	n := 0
	var res client.ACLResource
	var name string
	if f.topic != "" {
		n, res, name = n+1, client.ACLTopic, f.topic
	}
	if f.group != "" {
		n, res, name = n+1, client.ACLGroup, f.group
	}
	if f.cluster {
		n, res, name = n+1, client.ACLCluster, client.ClusterResourceName
	}
	switch {
	case n > 1:
		return 0, "", usageErrorf("give one of --topic, --group, --cluster")
	case n == 0 && !optional:
		return 0, "", usageErrorf("give one of --topic NAME, --group NAME or --cluster")
	case f.prefix && res == client.ACLCluster:
		return 0, "", usageErrorf("--prefix applies to --topic or --group")
	}
	return res, name, nil
}

// acls returns the ACLs the flags name: one per operation.
func (f *aclFlags) acls() ([]client.ACL, error) {
	if f.principal == "" {
		return nil, usageErrorf("--principal is required")
	}
	res, name, err := f.resource(false)
	if err != nil {
		return nil, err
	}
	if len(f.ops) == 0 {
		return nil, usageErrorf("--op is required (e.g. --op read,write)")
	}
	var out []client.ACL
	for _, s := range f.ops {
		op, err := client.ParseACLOperation(strings.TrimSpace(s))
		if err != nil {
			return nil, usageErrorf("--op: %v", err)
		}
		out = append(out, client.ACL{Principal: f.fullPrincipal(), Resource: res, Name: name, Prefixed: f.prefix,
			Operation: op, Deny: f.deny})
	}
	return out, nil
}

func newACLAddCmd(a *app, brokers *[]string) *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Allow (or with --deny, deny) a user operations on a topic, group or the cluster",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, err := f.acls()
			if err != nil {
				return err
			}
			return a.withClient(*brokers, func(cl *client.Client) error {
				if err := cl.CreateACLs(cmd.Context(), acls...); err != nil {
					return explainACL(err, *brokers)
				}
				for _, acl := range acls {
					if _, err := fmt.Fprintf(a.stdout, "added: %s\n", describeACL(acl)); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func newACLRemoveCmd(a *app, brokers *[]string) *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove ACLs (exactly those the flags name)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, err := f.acls()
			if err != nil {
				return err
			}
			return a.withClient(*brokers, func(cl *client.Client) error {
				removed, err := cl.DeleteACLs(cmd.Context(), acls...)
				if err != nil {
					return explainACL(err, *brokers)
				}
				if len(removed) == 0 {
					_, err = fmt.Fprintln(a.stdout, "no such ACL")
					return err
				}
				for _, acl := range removed {
					if _, err := fmt.Fprintf(a.stdout, "removed: %s\n", describeACL(acl)); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

// aclJSON is one ACL of `acl list --format json`.
type aclJSON struct {
	Principal  string `json:"principal"`
	Permission string `json:"permission"` // allow or deny
	Operation  string `json:"operation"`
	Resource   string `json:"resource"` // topic, group or cluster
	Name       string `json:"name"`
	Pattern    string `json:"pattern"` // literal or prefixed
}

func toACLJSON(acl client.ACL) aclJSON {
	j := aclJSON{Principal: acl.Principal, Permission: "allow", Operation: acl.Operation.String(),
		Resource: acl.Resource.String(), Name: acl.Name, Pattern: "literal"}
	if acl.Deny {
		j.Permission = "deny"
	}
	if acl.Prefixed {
		j.Pattern = "prefixed"
	}
	return j
}

// describeACL is one line: "User:alice allow read on topic orders".
func describeACL(acl client.ACL) string {
	j := toACLJSON(acl)
	name := j.Name
	if acl.Prefixed {
		name += "*"
	}
	if acl.Resource == client.ACLCluster {
		return fmt.Sprintf("%s %s %s on the cluster", j.Principal, j.Permission, j.Operation)
	}
	return fmt.Sprintf("%s %s %s on %s %s", j.Principal, j.Permission, j.Operation, j.Resource, name)
}

func newACLListCmd(a *app, brokers *[]string) *cobra.Command {
	var f aclFlags
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List ACLs, all or those of a user or resource",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, name, err := f.resource(true)
			if err != nil {
				return err
			}
			filter := client.ACLFilter{Principal: f.fullPrincipal(), Resource: res, Name: name}
			return a.withClient(*brokers, func(cl *client.Client) error {
				acls, err := cl.ListACLs(cmd.Context(), filter)
				if err != nil {
					return explainACL(err, *brokers)
				}
				out := make([]aclJSON, 0, len(acls))
				rows := make([][]string, 0, len(acls))
				for _, acl := range acls {
					if f.prefix != acl.Prefixed && name != "" {
						continue
					}
					j := toACLJSON(acl)
					out = append(out, j)
					rows = append(rows, []string{j.Principal, j.Permission, j.Operation, j.Resource, j.Name, j.Pattern})
				}
				if format.value == "json" {
					return writeJSON(a.stdout, out)
				}
				return writeTable(a.stdout, []string{"PRINCIPAL", "PERMISSION", "OPERATION", "RESOURCE", "NAME", "PATTERN"}, rows)
			})
		},
	}
	f.register(cmd.Flags(), false)
	cmd.Flags().Lookup("op").Hidden = true
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// explainACL is explain for ACL commands.
func explainACL(err error, brokers []string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, client.ErrMalformed) {
		return &hintError{err: err, msg: fmt.Sprintf("the cluster refused the ACL: %v", err)}
	}
	return explain(err, brokers, "")
}
