package faultnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/minibroker/minibroker/broker"
)

// Prepare sets node i's configuration up for the proxied network, before
// its first start:
//
//   - unless cfg.RaftPeerAddr is set already (then node i dials its peers
//     directly, and only the links towards it can be cut), it routes the
//     node's Raft dials through its link proxies; a RaftAddr with port 0
//     gets a free port now, since the proxies towards the node must know
//     where to dial before it has started. On Linux the port is held
//     (bound, not listening) until StartBroker hands it to the node, and
//     again whenever the node is down (Stopped), so that no other
//     program can take it; elsewhere it is released, and another program
//     could take it before the node binds it (StartBroker then retries);
//   - unless cfg.AdvertiseAddr is set, clients are told a front proxy's
//     address; so with Kafka and cfg.KafkaAdvertisedAddr. Connections to
//     a front proxy wait until Started tells where the node listens.
//
// Errors: a port that cannot be reserved or a proxy that cannot listen.
func (nt *Net) Prepare(i int, cfg *broker.Config) error {
	if cfg.RaftPeerAddr == nil {
		if host, port, err := net.SplitHostPort(cfg.RaftAddr); err == nil && port == "0" {
			h, err := holdLow(host)
			switch {
			case err == nil:
				cfg.RaftAddr = h.addr
				nt.mu.Lock()
				if nt.closed {
					h.release()
				} else {
					if old := nt.holds[i]; old != nil { // prepared twice
						old.release()
					}
					nt.holdAddr[i], nt.holds[i] = h.addr, h
				}
				nt.mu.Unlock()
			case errors.Is(err, errHoldUnsupported):
				addr, err := reservePort(host)
				if err != nil {
					return fmt.Errorf("faultnet: reserve a raft port: %w", err)
				}
				cfg.RaftAddr = addr
			default:
				return fmt.Errorf("faultnet: hold a raft port: %w", err)
			}
		}
		cfg.RaftPeerAddr = func(id string) string { return nt.RaftPeerAddr(i, id) }
	}
	nt.mu.Lock()
	nt.ids[i] = cfg.ID
	if cfg.RaftAddr != "" && cfg.ID != "" {
		if _, port, err := net.SplitHostPort(cfg.RaftAddr); err == nil && port != "0" {
			nt.raftAddr[i] = cfg.RaftAddr
		}
	}
	nt.mu.Unlock()
	if cfg.AdvertiseAddr == "" {
		addr, err := nt.addFront(i, false)
		if err != nil {
			return err
		}
		cfg.AdvertiseAddr = addr
	}
	if !cfg.DisableKafka && cfg.KafkaAdvertisedAddr == "" {
		addr, err := nt.addFront(i, true)
		if err != nil {
			return err
		}
		cfg.KafkaAdvertisedAddr = addr
	}
	return nil
}

// The ports reservePort picks from: below Linux's ephemeral range (32768
// and up by default), from which the kernel takes the local ports of
// outgoing connections, so that no connection of this or another process
// takes a reserved port before the node binds it.
const reserveLow, reserveHigh = 20000, 32768

// reservePort returns host:port with a port in [reserveLow, reserveHigh)
// that was free a moment ago (bound and released). Errors: none free
// after many tries.
func reservePort(host string) (string, error) {
	ln, err := listenLow(host)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// listenLow listens on host at a random free port in [reserveLow,
// reserveHigh). Errors: none free after many tries.
func listenLow(host string) (net.Listener, error) {
	var err error
	for range 1000 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(reserveLow+rand.IntN(reserveHigh-reserveLow)))); err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("no free port in [%d, %d): %w", reserveLow, reserveHigh, err)
}

// addFront starts a new front proxy of node i and returns its address.
func (nt *Net) addFront(i int, kafka bool) (string, error) {
	p := &proxy{nt: nt, from: -1, to: i, kafka: kafka, conns: map[net.Conn]bool{}}
	if err := p.listen(); err != nil {
		return "", fmt.Errorf("faultnet: front proxy: %w", err)
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	nt.fronts[i] = append(nt.fronts[i], p)
	return p.addr, nil
}

// Started tells where node i, just started as b from cfg, listens: its
// front proxies pass connections on to it (listening again after a
// Stopped). It updates cfg for the next start: the same Raft port, and
// for a node without front proxies, the same client ports (with front
// proxies the node takes new free ports each start; clients only know
// the proxies'). Errors: a front proxy that cannot listen on its port
// again (another program took it while the node was down).
func (nt *Net) Started(i int, b *broker.Broker, cfg *broker.Config) error {
	cfg.RaftAddr = b.RaftAddr()
	nt.mu.Lock()
	nt.ids[i], nt.raftAddr[i] = b.ID(), b.RaftAddr()
	var relisten []*proxy
	native, kafka := false, false
	for _, p := range nt.fronts[i] {
		if p.kafka {
			p.target, kafka = b.KafkaListenAddr(), true
		} else {
			p.target, native = b.ListenAddr(), true
		}
		if p.ln == nil {
			relisten = append(relisten, p)
		}
	}
	if !nt.closed {
		close(nt.changed) // wake the connections that waited for the target
		nt.changed = make(chan struct{})
	}
	nt.mu.Unlock()
	if !native {
		cfg.Addr = b.ListenAddr()
	}
	if !kafka && !cfg.DisableKafka {
		cfg.KafkaAddr = b.KafkaListenAddr()
	}
	for _, p := range relisten {
		if err := p.listen(); err != nil {
			return fmt.Errorf("faultnet: front proxy of node %d on %s again: %w", i+1, p.addr, err)
		}
	}
	return nil
}

// Stopped tells that node i is down (its broker closed): its front
// proxies stop listening (clients are refused, as by the stopped broker)
// and close their connections, until Started; its Raft port, if Prepare
// held it, is held again (peers are refused too), until StartBroker. It
// does not block.
func (nt *Net) Stopped(i int) {
	nt.mu.Lock()
	for _, p := range nt.fronts[i] {
		p.stopLocked()
		p.target = ""
	}
	nt.mu.Unlock()
	nt.hold(i)
}
