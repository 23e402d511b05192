// Package tests holds minibroker's end-to-end and fault tests. They use the
// public APIs only: broker (through broker/brokertest) and client. Run them
// with the rest: go test -race ./...
package tests
