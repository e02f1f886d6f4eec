package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/store"
)

func newUsersCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "users",
		Short: "Manage API users and their tokens",
		Long: `Manage API users. These commands work through the running daemon's admin
socket, or directly on the store when no daemon runs on the data dir.`,
	}
	c.AddCommand(newUsersAddCommand(), newUsersListCommand(), newUsersRemoveCommand(), newUsersTokenCommand())
	return c
}

// withUsers runs viaDaemon against the running daemon, or direct on the
// store when no daemon runs; then a command that writes says on stderr
// which store it wrote, so that a token for another store than the
// daemon's is never a silent surprise.
func withUsers(cmd *cobra.Command, writes bool, viaDaemon func(*adminClient) error, direct func(*store.DB) error) error {
	dir, err := adminDataDir(cmd)
	if err != nil {
		return err
	}
	err = viaDaemon(newAdminClient(dir))
	if !errors.Is(err, errNoDaemon) {
		return err
	}
	db, err := store.Open(dir, 500*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("chimerad holds %s but does not answer on its socket: %w", dir, err)
	} else if err != nil {
		return err
	}
	path := db.Path()
	err = errors.Join(direct(db), db.Close())
	if err == nil && writes {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; no daemon is running on it\n", path)
	}
	return err
}

func newUsersAddCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user and print its API token (and nothing else)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			admin, _ := cmd.Flags().GetBool("admin")
			var out struct {
				Token string `json:"token"`
			}
			err := withUsers(cmd, true,
				func(a *adminClient) error {
					return a.do(cmd.Context(), "POST", "/api/users", map[string]any{"name": args[0], "admin": admin}, &out)
				},
				func(db *store.DB) (err error) {
					_, out.Token, err = db.CreateUser(cmd.Context(), args[0], admin)
					return err
				})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return err
		},
	}
	c.Flags().Bool("admin", false, "the user may see and act on every session and manage users")
	return c
}

func newUsersListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Users []store.User `json:"users"`
			}
			err := withUsers(cmd, false,
				func(a *adminClient) error { return a.do(cmd.Context(), "GET", "/api/users", nil, &out) },
				func(db *store.DB) (err error) {
					out.Users, err = db.Users(cmd.Context())
					return err
				})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADMIN\tCREATED")
			for _, u := range out.Users {
				fmt.Fprintf(tw, "%s\t%v\t%s\n", u.Name, u.Admin, u.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}

func newUsersRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user: revoke its tokens and end its live sessions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd, true,
				func(a *adminClient) error {
					return a.do(cmd.Context(), "DELETE", "/api/users/"+url.PathEscape(args[0]), nil, nil)
				},
				func(db *store.DB) error {
					// No daemon runs, so no child does: the user's sessions
					// still marked live end at the daemon's next start.
					return db.DeleteUser(context.WithoutCancel(cmd.Context()), args[0])
				})
		},
	}
}

func newUsersTokenCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "token NAME",
		Short: "Issue a fresh token for a user; the old one stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Token string `json:"token"`
			}
			err := withUsers(cmd, true,
				func(a *adminClient) error {
					return a.do(cmd.Context(), "POST", "/api/users/"+url.PathEscape(args[0])+"/token", nil, &out)
				},
				func(db *store.DB) (err error) {
					out.Token, err = db.RotateToken(cmd.Context(), args[0])
					return err
				})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return err
		},
	}
}
