// Package faultnet puts TCP proxies between the nodes of an in-process
// cluster and between the nodes and their clients, so that tests can cut
// a node off or make it stop answering without stopping it. It is what
// broker/brokertest and broker/localcluster build Partition, Heal, Pause
// and Resume on (and through localcluster, the lab's cut-off scenarios).
//
//	         client ──► front proxy of n1 (advertised) ──► n1's listener
//	n1's Raft ──► link proxy n1→n2 ──► n2's Raft transport
//
// Every node reaches every other node's Raft transport through a link
// proxy of its own (broker.Config.RaftPeerAddr routes the dials), and the
// address a node advertises to clients (native and Kafka) is a front
// proxy's. Cutting node k:
//
//   - its Raft links (both ways) lose their connections, and new ones
//     are accepted and closed at once (a reset), so Raft sees errors at
//     once, as behind a firewall that rejects;
//   - with clients cut too, its front proxies do the same to client
//     connections: requests in flight get no answer (outcome unknown),
//     clients look for another node.
//
// Pausing node k models a process that stops answering without dying (a
// SIGSTOP, a long GC pause, a hung disk): connections to and from it stay
// open, and new ones are accepted, but no byte is passed on in either
// direction until Resume; then what was held is delivered, as a resumed
// process reads its socket buffers. Unlike a stopped process the node's
// own timers still run (a paused leader, hearing from no follower, steps
// down by itself once its lease runs out).
//
// Cuts and pauses are states of the network, not of the process: they
// outlast a Kill and a Restart of the node until Heal or Resume. While a
// node is down (Stopped), its front proxies do not listen, so clients are
// refused as by a killed broker; on Linux its Raft port is held by a
// socket that is bound but does not listen, so its peers are refused too,
// and no other process can take the port before the node starts again on
// it (Net.StartBroker hands the socket to the node as its Raft listener).
package faultnet
