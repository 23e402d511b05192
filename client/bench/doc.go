// Package bench runs load workloads against a message broker and measures
// them: throughput and latency percentiles from HdrHistogram
// (github.com/HdrHistogram/hdrhistogram-go), with a progress report every
// second. It is what `minibroker bench` runs, and what the side-by-side
// comparison with NATS JetStream in tests/peers runs against both brokers,
// so that both are measured by the same code.
//
// The workloads drive a Target, a small interface with a Producer and a
// Consumer. Minibroker is the Target of a minibroker cluster (through the
// client package); tests/peers has one for NATS JetStream.
//
//   - Produce: P producers send messages of Size bytes, Count in all or
//     for Duration, with at most MaxInFlight unacknowledged messages each
//     (1 = one message in flight: a latency test), optionally at a fixed
//     Rate. Latency is from Send to the acknowledgement.
//   - Consume: C members of a consumer group read Count messages (or for
//     Duration), committing as the Target is configured (by default once
//     per poll). Latency is from the produce time stamped in each message
//     to its delivery.
//   - EndToEnd: one producer at a fixed Rate and one group consumer
//     running together; latency is from send to delivery, the figure that
//     matters at moderate load.
//
// Every message's value starts with a 12-byte stamp (a 4-byte magic and
// the send time in Unix nanoseconds) when Size allows, so consumers can
// measure delivery latency across processes on one machine.
//
// Workloads block until they are done or ctx ends; they are safe to run
// concurrently. A Result marshals to JSON with snake_case fields
// (msgs_per_sec, mb_per_sec, latency.p99_ms, ...). MB is 10^6 bytes, of
// message values only.
package bench
