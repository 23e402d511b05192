package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Settings are the flags that may also be given as environment variables
// (MINIBROKER_ + the flag's name in upper case with dashes turned into
// underscores) and as keys of the TOML config file (the flag's name).
// Precedence: command-line flag > environment > config file > default.
//
// Settings are the flags that describe where things are and how a node
// runs (serve's flags, --brokers, --config); the per-invocation flags of
// the tools (--max, --acks, ...) are flags only, so that a stray
// environment variable cannot change what a command does.

// settingAnnotation marks a flag as a setting.
const settingAnnotation = "minibroker/setting"

// envPrefix starts every setting's environment variable.
const envPrefix = "MINIBROKER_"

// markSettings marks the named flags of fs as settings and names their
// environment variables in their usage text. It panics on a
// name fs does not have: that is a bug in the command tree, caught by
// every test that builds it.
func markSettings(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, settingAnnotation, []string{"true"}); err != nil {
			panic(fmt.Sprintf("markSettings: %v", err))
		}
		f := fs.Lookup(n)
		f.Usage += " (env " + envName(n) + ")"
	}
}

// isSetting reports whether f is marked by markSettings.
func isSetting(f *pflag.Flag) bool {
	_, ok := f.Annotations[settingAnnotation]
	return ok
}

// envName returns the environment variable of a setting: "raft-addr" ->
// "MINIBROKER_RAFT_ADDR".
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applySettings fills cmd's settings that were not given on the command
// line from the environment, then from the config file (--config or
// MINIBROKER_CONFIG). A config file key that is no setting of any command,
// or a value a flag does not accept, is a *usageError naming the key or
// variable. Keys that are settings of other commands only (the file may
// configure both serve and the tools) are ignored.
func applySettings(cmd *cobra.Command, getenv func(string) (string, bool)) error {
	flags := cmd.Flags()
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if !isSetting(f) || f.Changed {
			return
		}
		name := envName(f.Name)
		if v, ok := getenv(name); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, usageErrorf("%s=%q: invalid value for --%s: %w", name, v, f.Name, err))
			}
			f.Changed = true
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	path, _ := flags.GetString("config")
	if path == "" {
		return nil
	}
	file, err := loadConfigFile(path)
	if err != nil {
		return err
	}
	known := settingNames(cmd.Root())
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if !known[key] || key == "config" {
			return usageErrorf("config file %s: unknown key %q (keys are the names of the flags: %s)",
				path, key, strings.Join(sortedKeys(known, "config"), ", "))
		}
		f := flags.Lookup(key)
		if f == nil || !isSetting(f) || f.Changed {
			continue // another command's setting, or given as a flag or variable
		}
		if err := setFromTOML(f, file[key]); err != nil {
			return usageErrorf("config file %s: key %q: %w", path, key, err)
		}
		f.Changed = true
	}
	return nil
}

// loadConfigFile reads a TOML config file into its top-level keys.
func loadConfigFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("config file %s does not exist (--config, MINIBROKER_CONFIG): %w", path, err)
		}
		return nil, fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		return nil, usageErrorf("config file %s: %w", path, err)
	}
	return m, nil
}

// setFromTOML sets f from a decoded TOML value: a string, number or
// boolean as its text, an array (for list flags such as join and
// brokers) element by element.
func setFromTOML(f *pflag.Flag, v any) error {
	if arr, ok := v.([]any); ok {
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("--%s takes one value, not a list", f.Name)
		}
		items := make([]string, 0, len(arr))
		for _, e := range arr {
			s, err := tomlScalar(e)
			if err != nil {
				return err
			}
			items = append(items, s)
		}
		if err := sv.Replace(items); err != nil {
			return fmt.Errorf("invalid value for --%s: %w", f.Name, err)
		}
		return nil
	}
	s, err := tomlScalar(v)
	if err != nil {
		return err
	}
	if err := f.Value.Set(s); err != nil {
		return fmt.Errorf("invalid value %q for --%s: %w", s, f.Name, err)
	}
	return nil
}

// tomlScalar returns the text of a TOML string, integer, float or boolean.
func tomlScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("a %T is not a valid value (use a string, number, boolean or list)", v)
}

// settingNames returns the names of every setting of the command tree.
func settingNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if isSetting(f) {
					names[f.Name] = true
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return names
}

// sortedKeys returns m's keys in order, less except.
func sortedKeys(m map[string]bool, except ...string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(except, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// enumValue is a flag that accepts one of a fixed set of words.
type enumValue struct {
	value   string
	allowed []string
	typ     string // shown in help; default: the allowed words
}

// newEnum returns an enumValue set to def, accepting allowed.
func newEnum(def string, allowed ...string) *enumValue {
	return &enumValue{value: def, allowed: allowed}
}

func (e *enumValue) String() string { return e.value }
func (e *enumValue) Type() string {
	if e.typ != "" {
		return e.typ
	}
	return strings.Join(e.allowed, "|")
}

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("must be one of %s", strings.Join(e.allowed, ", "))
	}
	e.value = s
	return nil
}
