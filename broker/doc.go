// Package broker is a minibroker server: it serves the client protocol
// (internal/wire) on TCP on top of a replicated Store (package
// replication), and is the embedding API for tests and other programs:
//
//	b, err := broker.Start(broker.Config{DataDir: dir}) // one node on 127.0.0.1, free ports
//	if err != nil { ... }
//	defer b.Close()
//	addr := b.Addr() // give this to client.Config.Brokers
//
// Start returns once the broker can serve: a new single node has elected
// itself, a joining node has been added to the cluster. A *Broker is safe
// for concurrent use. Close stops it at once; Shutdown(ctx) lets in-flight
// requests finish and hands Raft leadership over first.
//
// # Metrics and health
//
// Every Broker has its own Prometheus registry (Registry). With
// Config.MetricsAddr set, it also serves /metrics, /healthz and /readyz
// over HTTP there (MetricsAddr tells the bound address). See
// docs/architecture.md for what they report.
//
// # Writes and reads
//
// Every node accepts clients. Writes (Produce, CreateTopic, DeleteTopic)
// are served by the Raft leader; a follower answers NotLeader with the
// leader's client address and the client redirects. We redirect rather than
// forward: one network hop, and the client's view of who leads stays right.
// Reads (Fetch, ListOffsets, Metadata) are served by any node from its
// applied, committed data; a follower may trail the leader by a moment.
// A ListOffsets with Leader set is answered only by the leader, after a
// quorum confirmed it (what clients use before resetting a position).
//
// Produce requests from one connection are handed to Raft in the order
// they arrive, and then wait for their acks concurrently, so a client can
// pipeline batches to a partition and keep their order.
//
// # Limits and bad input
//
// A frame longer than MaxFrameBytes is refused before anything is
// allocated for it: the broker answers FrameTooLarge and closes the
// connection. A frame that does not decode gets Malformed, then the
// connection closes. An unknown API or version gets an error response and
// the connection stays. A record over MaxMessageBytes fails its request
// with MessageTooLarge; the connection stays usable. Past MaxInFlight
// requests on a connection, requests get TooManyInFlight. A connection idle
// for IdleTimeout is closed. Garbage on the port affects only that
// connection.
package broker
