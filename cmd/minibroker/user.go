package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/client"
)

// loginOpts are the tools' login settings: --user (MINIBROKER_USER), and
// the password from MINIBROKER_PASSWORD or a file. There is no flag that
// takes the password itself: it would show in ps and shell history.
type loginOpts struct {
	user         string
	passwordFile string
	password     string // resolved by resolveLogin
}

// passwordEnv holds the tools' login password.
const passwordEnv = "MINIBROKER_PASSWORD"

// loginFlags adds --user (a setting) and the password file flag (named
// fileFlag) to fs, storing into a.login.
func (a *app) loginFlags(fs *pflag.FlagSet, fileFlag string) {
	fs.StringVar(&a.login.user, "user", "", "log in as this user (SASL SCRAM; the broker runs with --auth scram); the password comes from "+passwordEnv+" or --"+fileFlag)
	markSettings(fs, "user")
	fs.StringVar(&a.login.passwordFile, fileFlag, "", "read the login password from this file (its first line) instead of "+passwordEnv)
}

// resolveLogin reads the login password, once. Errors are *usageErrors.
func (a *app) resolveLogin() error {
	l := &a.login
	if l.user == "" || l.password != "" {
		return nil
	}
	if l.passwordFile != "" {
		pw, err := readPasswordFile(l.passwordFile)
		if err != nil {
			return usageErrorf("password file: %w", err)
		}
		l.password = pw
		return nil
	}
	if pw, ok := a.getenv(passwordEnv); ok && pw != "" {
		l.password = pw
		return nil
	}
	return usageErrorf("--user %s: set the password in %s or give a password file", l.user, passwordEnv)
}

// readPasswordFile returns the first line of a file.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: empty password", path)
	}
	return pw, nil
}

func newUserCmd(a *app) *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete users (serve --auth scram)",
		Long: `Manage the users that log in with SASL SCRAM when the cluster runs with
--auth scram. Only a superuser may: log in with --user and the password in
MINIBROKER_PASSWORD or --login-password-file.`,
		Args: groupArgs,
		RunE: showHelp,
	}
	brokersFlag(cmd.PersistentFlags(), &brokers)
	a.loginFlags(cmd.PersistentFlags(), "login-password-file")
	cmd.AddCommand(newUserCreateCmd(a, &brokers), newUserDeleteCmd(a, &brokers), newUserListCmd(a, &brokers))
	return cmd
}

func newUserCreateCmd(a *app, brokers *[]string) *cobra.Command {
	var opt client.UserOptions
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user, or set its password",
		Long: `Create a user with SCRAM-SHA-256 and SCRAM-SHA-512 credentials (or the
mechanisms named), or replace an existing user's password and superuser
flag. The password is read from the first line of standard input, or of
--password-file; the broker stores only salted keys derived from it.`,
		Example: `  printf '%s\n' "$ALICE_PW" | MINIBROKER_USER=admin MINIBROKER_PASSWORD=... minibroker user create alice
  minibroker user create ops --superuser --password-file ops.pw`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var pw string
			var err error
			if passwordFile != "" {
				pw, err = readPasswordFile(passwordFile)
			} else {
				pw, err = readPasswordLine(a)
			}
			if err != nil {
				return usageErrorf("user create: %w", err)
			}
			return a.withClient(*brokers, func(cl *client.Client) error {
				if err := cl.CreateUser(cmd.Context(), name, pw, opt); err != nil {
					return explainUser(err, *brokers, name)
				}
				fmt.Fprintf(a.stdout, "user %s created\n", name)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opt.Superuser, "superuser", false, "the user may do everything, user administration included")
	f.StringSliceVar(&opt.Mechanisms, "mechanism", nil, "SCRAM mechanisms to store credentials for: SCRAM-SHA-256, SCRAM-SHA-512 (default both)")
	f.StringVar(&passwordFile, "password-file", "", "read the new user's password from this file (its first line) instead of standard input")
	return cmd
}

// readPasswordLine reads the first line of standard input.
func readPasswordLine(a *app) (string, error) {
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input (or give --password-file)")
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

func newUserDeleteCmd(a *app, brokers *[]string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user",
		Long:  `Delete a user. Its connections already logged in stay open until they close.`,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				if err := cl.DeleteUser(cmd.Context(), args[0]); err != nil {
					return explainUser(err, *brokers, args[0])
				}
				fmt.Fprintf(a.stdout, "user %s deleted\n", args[0])
				return nil
			})
		},
	}
}

func newUserListCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Long:  `List the users with their superuser flag and the SCRAM mechanisms they can log in with.`,
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				users, err := cl.ListUsers(cmd.Context())
				if err != nil {
					return explainUser(err, *brokers, "")
				}
				if format.value == "json" {
					out := make([]userSummary, 0, len(users))
					for _, u := range users {
						out = append(out, userSummary{Name: u.Name, Superuser: u.Superuser, Mechanisms: u.Mechanisms})
					}
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, 0, len(users))
				for _, u := range users {
					rows = append(rows, []string{u.Name, strconv.FormatBool(u.Superuser), strings.Join(u.Mechanisms, ",")})
				}
				return writeTable(a.stdout, []string{"USER", "SUPERUSER", "MECHANISMS"}, rows)
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// userSummary is one user of `user list --format json`.
type userSummary struct {
	Name       string   `json:"name"`
	Superuser  bool     `json:"superuser"`
	Mechanisms []string `json:"mechanisms"`
}

// explainUser is explain for the user commands.
func explainUser(err error, brokers []string, name string) error {
	hint := func(format string, args ...any) error {
		return &hintError{msg: fmt.Sprintf(format, args...), err: err}
	}
	switch {
	case errors.Is(err, client.ErrUnknownUser):
		return hint("user %q does not exist — see `minibroker user list`", name)
	case errors.Is(err, client.ErrInvalidUser):
		return hint("the cluster refused the user: %v", err)
	}
	return explain(err, brokers, "")
}
