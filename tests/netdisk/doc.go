// Package netdisk holds minibroker's network and disk fault tests:
// in-process clusters (broker/brokertest) whose Raft links run through
// TCP proxies and whose partition logs run through a fault-injecting
// filesystem (broker.Config.RaftPeerAddr and LogFS). Each test ends with
// the delivery checker's verdict (client/check). See the end of this
// comment for what each fault does and what is expected.
package netdisk
