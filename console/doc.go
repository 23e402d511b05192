// Package console is minibroker's web console: HTML pages served by a
// node beside its broker (`minibroker serve --http-addr`), for operators
// and for people who learn delivery semantics.
//
//   - /cluster: the nodes, their roles, Raft term, commit and applied
//     index, replication lag; the `cluster verify` verdict; this node's
//     produce and fetch rates.
//   - /topics and /topics/{name}: partitions, sizes, start offsets, high
//     watermarks, retention; a message browser (from an offset or a time;
//     key, value, headers, timestamp; JSON values pretty-printed).
//   - /groups and /groups/{name}: members, assignment, committed offsets,
//     lag per partition over time.
//   - /lab: the delivery lab (package lab): pick a scenario, start it on a
//     three-node cluster inside the process (in a temporary directory,
//     never the node's own data), kill or cut off the leader or crash a
//     consumer when you choose, watch the timeline, read the ledger.
//
// Everything is in the binary (Go embed: templates, CSS, one small
// script); nothing is fetched from elsewhere. Charts are SVG drawn on the
// server; pages stay current through server-sent events (/live).
//
// The console is read-only unless Config.Write is set: then it also
// creates and deletes topics and resets groups' offsets. It has no
// authentication: serve it on loopback (the default) or behind a proxy
// that authenticates. It answers only requests whose Host is one of its
// names (Config.Addr, Config.AllowedHosts), so that a web page cannot
// reach it through DNS rebinding, and refuses state-changing requests
// (all POSTs, including the replica check) that a browser marks as
// cross-site or whose Origin is not its own.
//
// A Console is an http.Handler. It reads the cluster through a client
// connected to its broker, and the broker itself (Broker.NodeState,
// TopicStates, Registry) for what only the node knows. A sampler
// goroutine takes a snapshot every Config.Interval; pages and live
// updates render the latest one, so any number of open pages cost the
// cluster one set of requests per interval.
//
// Files: console.go (Config, New, routes, origin checks), hostcheck.go
// (the Host check), sampler.go (snapshots),
// chart.go (SVG), pages.go (page handlers), live.go (server-sent events),
// browse.go (message browser), write.go (write actions), labweb.go (the
// lab), assets/ (templates, CSS, script).
package console
