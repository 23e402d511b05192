//go:build race

package tests

// raceEnabled tells the CLI tests to build the binary with -race too.
const raceEnabled = true
