package kafka

import (
	"fmt"
	"strconv"

	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// Topic configs minibroker has, under Kafka's names. Kafka's -1
// ("unlimited") is minibroker's 0.
const (
	cfgRetentionMs    = "retention.ms"
	cfgRetentionBytes = "retention.bytes"
	cfgSegmentBytes   = "segment.bytes"
	cfgCleanupPolicy  = "cleanup.policy"
)

// parseTopicConfigs turns CreateTopics' configs into a TopicConfig. A
// config minibroker does not have, or a bad value, is an INVALID_CONFIG
// error naming it. cleanup.policy is accepted as "delete" only (no
// compaction).
func parseTopicConfigs(configs map[string]*string) (replication.TopicConfig, error) {
	var tc replication.TopicConfig
	for name, v := range configs {
		if v == nil {
			continue // null: the default
		}
		bad := func(why string) error {
			return kerr(codeInvalidConfig, fmt.Sprintf("config %s=%q: %s", name, *v, why))
		}
		if name == cfgCleanupPolicy {
			if *v != "delete" {
				return tc, bad(`minibroker has only "delete" (no compaction)`)
			}
			continue
		}
		n, err := strconv.ParseInt(*v, 10, 64)
		if err != nil {
			return tc, bad("not an integer")
		}
		switch name {
		case cfgRetentionMs, cfgRetentionBytes:
			if n < -1 {
				return tc, bad("want -1 (unlimited) or more")
			}
			if n == -1 {
				n = 0
			}
			if n == 0 && name == cfgRetentionMs {
				return tc, bad("0 would delete everything at once; minibroker wants -1 or at least 1")
			}
			if n == 0 && name == cfgRetentionBytes {
				return tc, bad("want -1 (unlimited) or at least 1")
			}
			if name == cfgRetentionMs {
				tc.RetentionMs = n
			} else {
				tc.RetentionBytes = n
			}
		case cfgSegmentBytes:
			if n < 1024 || n > 1<<30 {
				return tc, bad("want 1 KiB to 1 GiB")
			}
			tc.SegmentBytes = n
		default:
			return tc, kerr(codeInvalidConfig, fmt.Sprintf("config %s: minibroker has only %s, %s, %s and %s=delete",
				name, cfgRetentionMs, cfgRetentionBytes, cfgSegmentBytes, cfgCleanupPolicy))
		}
	}
	return tc, nil
}

// topicConfigEntry is one config of a topic as Kafka describes it.
type topicConfigEntry struct {
	name      string
	value     string
	isDefault bool
	long      bool // a number (ConfigType LONG/INT), else a string
}

// topicConfigEntries lists a topic's configs, in a fixed order.
func topicConfigEntries(tc replication.TopicConfig) []topicConfigEntry {
	unlimited := func(v int64) string {
		if v == 0 {
			return "-1"
		}
		return strconv.FormatInt(v, 10)
	}
	seg := tc.SegmentBytes
	if seg == 0 {
		seg = mlog.DefaultSegmentBytes
	}
	return []topicConfigEntry{
		{cfgCleanupPolicy, "delete", true, false},
		{cfgRetentionBytes, unlimited(tc.RetentionBytes), tc.RetentionBytes == 0, true},
		{cfgRetentionMs, unlimited(tc.RetentionMs), tc.RetentionMs == 0, true},
		{cfgSegmentBytes, strconv.FormatInt(seg, 10), tc.SegmentBytes == 0, true},
	}
}
