// Package logtest holds filesystems that inject disk faults into a
// partition log (log.FS), for tests of the log and of what runs on it
// (replication's state machine, broker.Config.LogFS, `minibroker serve`).
// Standard library only.
package logtest
