package faultnet

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echo starts a TCP echo server on loopback and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes b on c and reads it back within wait.
func roundTrip(c net.Conn, b string, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(b)); err != nil {
		return err
	}
	got := make([]byte, len(b))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != b {
		return errors.New("echo mismatch: " + string(got))
	}
	return nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialTrip dials addr and round-trips b; a reset may already fail the
// dial.
func dialTrip(addr, b string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, b, 5*time.Second)
}

// TestFront: a front proxy passes traffic on; a pause holds it and Resume
// delivers what was held; a partition resets connections, old and new;
// a stopped node's front proxy refuses connections.
func TestFront(t *testing.T) {
	nt, err := New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	addr, err := nt.addFront(0, false)
	if err != nil {
		t.Fatal(err)
	}
	target := echo(t)
	nt.mu.Lock()
	nt.fronts[0][0].target = target
	nt.mu.Unlock()

	c := dial(t, addr)
	if err := roundTrip(c, "a", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	nt.Pause(0)
	if err := roundTrip(c, "b", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("paused: %v, want a timeout", err)
	}
	fresh := dial(t, addr) // accepted while paused, held too
	if err := roundTrip(fresh, "c", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection while paused: %v, want a timeout", err)
	}
	nt.Resume(0)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 1)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "b" {
		t.Fatalf("held byte after Resume: %q, %v", got, err)
	}

	nt.Partition(0)
	if !nt.IsCut(0) {
		t.Fatal("IsCut false after Partition")
	}
	if err := roundTrip(c, "d", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("old connection across a partition: %v, want it reset", err)
	}
	if err := dialTrip(addr, "e"); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection across a partition: %v, want it reset", err)
	}
	nt.Heal()
	if err := roundTrip(dial(t, addr), "f", 5*time.Second); err != nil {
		t.Fatalf("after Heal: %v", err)
	}

	nt.Stopped(0)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a stopped node's front proxy accepted a connection")
	}
}

// TestLinks: node 0 reaches node 1 through its link proxy; cutting either
// end's Raft resets it, Heal restores it.
func TestLinks(t *testing.T) {
	nt, err := New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	nt.mu.Lock()
	nt.ids[0], nt.ids[1] = "n1", "n2"
	nt.raftAddr[1] = echo(t)
	nt.mu.Unlock()
	via := nt.RaftPeerAddr(0, "n2")
	if via == "" || nt.RaftPeerAddr(0, "n1") != "" || nt.RaftPeerAddr(0, "nope") != "" {
		t.Fatalf("RaftPeerAddr: %q for n2; self and unknown must be \"\"", via)
	}
	if err := roundTrip(dial(t, via), "a", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	nt.CutRaft(1)
	if err := dialTrip(via, "b"); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("cut link: %v, want a reset", err)
	}
	nt.Heal()
	if err := roundTrip(dial(t, via), "c", 5*time.Second); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}
