// Package check is a delivery checker: it records what a test produced
// and what its consumers received, and says what went wrong.
//
// Record every produce attempt with its final outcome, and every delivery
// (and, optionally, every commit):
//
//	ck := check.New()
//	res, err := producer.Produce(ctx, client.Message{Topic: "t", Value: v})
//	ck.Produced(check.Attempt{Stream: "p1", Topic: "t", Value: v, Outcome: check.OutcomeOf(err), Partition: res.Partition, Offset: res.Offset})
//	...
//	for _, m := range msgs {
//		ck.Delivered(check.Delivery{Group: "g", Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Value: m.Value})
//	}
//	r := ck.Report()
//	if !r.OK() {
//		t.Fatal(r)
//	}
//
// A group that received nothing is judged only if declared with
// ExpectGroup. Values identify messages, so every attempt must produce a distinct value
// (check.Value makes some). The report counts, per consumer group:
//
//   - lost: acknowledged, never delivered (a broken promise);
//   - duplicated: delivered more than once (allowed under at-least-once,
//     counted and explained);
//   - unexpected: delivered, never sent;
//   - reordered: two acknowledged messages of one stream in one partition
//     stored in the opposite order to the one they were sent in;
//   - failed-but-visible: a write reported as failed that was delivered;
//   - commit regressions: a group's committed offset that went backwards.
//
// Messages sent without an acknowledgement (acks=0) or with an unknown
// outcome may or may not arrive; the report counts those that did not as
// "unacked, not delivered", which is no violation.
//
// A Checker is safe for concurrent use.
package check
