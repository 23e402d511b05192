package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minibroker/minibroker/client"
)

// The write actions (Config.Write): plain HTML form posts that redirect
// back with a one-line outcome (?flash=), so they work without script.

const writeTimeout = 15 * time.Second

// back redirects to path with msg as the page's notice.
func back(w http.ResponseWriter, r *http.Request, path, msg string) {
	http.Redirect(w, r, path+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	cfg := client.TopicConfig{}
	if v := r.FormValue("partitions"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<16 {
			back(w, r, "/topics", fmt.Sprintf("partitions %q: want a number from 1", v))
			return
		}
		cfg.Partitions = int32(n)
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	cl, err := c.lc.get()
	if err == nil {
		err = cl.CreateTopic(ctx, name, cfg)
	}
	if err != nil {
		back(w, r, "/topics", "create topic: "+err.Error())
		return
	}
	c.log.Info("console: topic created", "topic", name, "partitions", cfg.Partitions)
	back(w, r, "/topics", fmt.Sprintf("topic %s created", name))
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	cl, err := c.lc.get()
	if err == nil {
		err = cl.DeleteTopic(ctx, name)
	}
	if err != nil {
		back(w, r, "/topics", "delete topic: "+err.Error())
		return
	}
	c.log.Info("console: topic deleted", "topic", name)
	back(w, r, "/topics", fmt.Sprintf("topic %s deleted", name))
}

func (c *Console) resetGroup(w http.ResponseWriter, r *http.Request) {
	group, topic := r.PathValue("name"), r.FormValue("topic")
	path := "/groups/" + url.PathEscape(group)
	var to client.OffsetSpec
	var offset int64
	switch v := r.FormValue("to"); v {
	case "earliest":
		to = client.Earliest
	case "latest":
		to = client.Latest
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			back(w, r, path, fmt.Sprintf("reset to %q: want earliest, latest or an offset", v))
			return
		}
		to, offset = client.AtOffset, n
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	cl, err := c.lc.get()
	var set []client.PartitionOffset
	if err == nil {
		set, err = cl.ResetGroupOffsets(ctx, group, topic, to, offset)
	}
	if err != nil {
		back(w, r, path, "reset: "+err.Error())
		return
	}
	c.log.Info("console: group offsets reset", "group", group, "topic", topic, "partitions", len(set))
	back(w, r, path, fmt.Sprintf("group %s: %d partitions of %s reset", group, len(set), topic))
}
