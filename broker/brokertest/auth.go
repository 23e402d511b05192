package brokertest

import "github.com/minibroker/minibroker/broker"

// SCRAM returns a NewCluster mod that turns authentication on (SASL SCRAM)
// on every node, with user as the first superuser (AdminUser and
// AdminPassword): the nodes log in to each other with it, and
// VerifyReplicas uses it.
func SCRAM(user, password string) func(i int, cfg *broker.Config) {
	return func(_ int, cfg *broker.Config) {
		cfg.Auth = broker.AuthSCRAM
		cfg.AdminUser, cfg.AdminPassword = user, password
	}
}
