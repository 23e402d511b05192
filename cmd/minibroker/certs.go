package main

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/internal/tlsconf"
)

func newCertsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create TLS certificates for a quick start and for tests",
		Args:  groupArgs,
		RunE:  showHelp,
	}
	var dir string
	var nodes, clients, hosts []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Write a CA and node and client certificates into a directory",
		Long: `Write a CA (ca.crt, ca.key), a certificate for each node (node-<id>.crt and
.key: common name node:<id>, valid for 127.0.0.1, ::1, localhost and --hosts)
and for each client (client-<name>.crt and .key: common name <name>) into
--dir. A CA already in --dir is reused, so nodes and clients can be added later;
with only one of ca.crt and ca.key there, nothing is written. Names may not
contain "/", "\" or "..", and a client name may not start with "node:".
Keys are written mode 0600.

This is for a quick start and for tests: ECDSA P-256 keys, certificates valid
for a year, and the CA's key on the same disk. In production, use your own PKI
(any CA works: serve takes PEM files); see docs/security.md.`,
		Example: `  minibroker certs create --dir certs --nodes n1,n2,n3 --clients alice
  minibroker serve --id n1 --tls-cert certs/node-n1.crt --tls-key certs/node-n1.key --tls-ca certs/ca.crt
  minibroker topic list --tls-ca certs/ca.crt --tls-cert certs/client-alice.crt --tls-key certs/client-alice.key`,
		Args: exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			if dir == "" {
				return usageErrorf("certs create: --dir is required")
			}
			if len(nodes) == 0 && len(clients) == 0 {
				return usageErrorf("certs create: name at least one node (--nodes) or client (--clients)")
			}
			if slices.Contains(nodes, "") || slices.Contains(clients, "") {
				return usageErrorf("certs create: empty node or client name")
			}
			if err := tlsconf.CheckNames(nodes, clients); err != nil {
				return usageErrorf("certs create: %w", err)
			}
			written, err := tlsconf.WriteFiles(dir, nodes, clients, hosts)
			for _, w := range written {
				fmt.Fprintln(a.stdout, w)
			}
			if err != nil {
				return err
			}
			if len(nodes) > 0 {
				f := tlsconf.NodeFiles(dir, nodes[0])
				fmt.Fprintf(a.stderr, "start node %s with: minibroker serve --id %s --tls-cert %s --tls-key %s --tls-ca %s\n",
					nodes[0], nodes[0], f.CertFile, f.KeyFile, f.CAFile)
			}
			fmt.Fprintf(a.stderr, "tools: --tls-ca %s (or MINIBROKER_TLS_CA)\n", filepath.Join(dir, tlsconf.CAFileName))
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&dir, "dir", "", "directory to write the files into (created if missing)")
	f.StringSliceVar(&nodes, "nodes", nil, "node ids to create certificates for (ID[,ID])")
	f.StringSliceVar(&clients, "clients", nil, "client (user) names to create certificates for (NAME[,NAME])")
	f.StringSliceVar(&hosts, "hosts", nil, "more host names or IP addresses the node certificates are valid for (HOST[,HOST])")
	cmd.AddCommand(create)
	return cmd
}
