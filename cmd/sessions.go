package cmd

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/server"
)

func newSessionsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "sessions",
		Short: "Inspect and end sessions of the running daemon",
	}
	c.AddCommand(newSessionsListCommand(), newSessionsShowCommand(), newSessionsKillCommand())
	c.AddCommand(newSessionsLogsCommand())
	return c
}

// daemon returns a client for the running daemon on the command's data dir.
func daemon(cmd *cobra.Command) (*adminClient, error) {
	dir, err := adminDataDir(cmd)
	if err != nil {
		return nil, err
	}
	return newAdminClient(dir), nil
}

func newSessionsListCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := daemon(cmd)
			if err != nil {
				return err
			}
			output, _ := cmd.Flags().GetString("output")
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			q := url.Values{}
			for _, f := range []string{"user", "state"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					q.Set(f, v)
				}
			}
			q.Set("limit", "1000")
			var all []server.SessionView
			for {
				var page struct {
					Sessions   []server.SessionView `json:"sessions"`
					NextCursor string               `json:"next_cursor"`
				}
				if err := a.do(cmd.Context(), "GET", "/api/sessions?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				all = append(all, page.Sessions...)
				if page.NextCursor == "" {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tSTATE\tNAME\tSTRUCTURE\tCREATED\tREASON")
			for _, s := range all {
				st := s.Structure.Source
				switch {
				case s.Structure.PDBID != "":
					st = "pdb:" + s.Structure.PDBID
				case s.Structure.Filename != "":
					st = s.Structure.Filename
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Owner, s.State, s.Name, st,
					s.CreatedAt.Local().Format(time.DateTime), s.TerminationReason)
			}
			return tw.Flush()
		},
	}
	c.Flags().String("user", "", "only this user's sessions")
	c.Flags().String("state", "", "only sessions in this state (starting, ready, stopping, terminated, failed)")
	c.Flags().StringP("output", "o", "table", "table or json")
	return c
}

func newSessionsShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Long:  "Show one session as JSON. ID may be any unique prefix of the session's id.",
		Short: "Show one session as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := daemon(cmd)
			if err != nil {
				return err
			}
			id, err := a.resolveID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var s server.SessionView
			if err := a.do(cmd.Context(), "GET", "/api/sessions/"+id, nil, &s); err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), s)
		},
	}
}

func newSessionsKillCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kill ID",
		Long:  "End a session now (reason admin_kill). ID may be any unique prefix of the session's id.",
		Short: "End a session now (reason admin_kill)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := daemon(cmd)
			if err != nil {
				return err
			}
			id, err := a.resolveID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var s server.SessionView
			path := "/api/sessions/" + id + "?reason=admin_kill"
			if err := a.do(cmd.Context(), "DELETE", path, nil, &s); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s)\n", s.ID, s.State, s.TerminationReason)
			return err
		},
	}
}

// resolveID turns a prefix of a session id into the one session id it
// starts (a whole id stands for itself); none, or several, is an error that
// says which.
func (a *adminClient) resolveID(ctx context.Context, prefix string) (string, error) {
	if uuid.Validate(prefix) == nil {
		return prefix, nil
	}
	if prefix == "" || strings.ContainsFunc(prefix, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef-", r) }) {
		return "", fmt.Errorf("session id %q: want a session id or a prefix of one (hex digits and -)", prefix)
	}
	q := url.Values{"limit": {"1000"}}
	var matches []string
	for {
		var page struct {
			Sessions []struct {
				ID string `json:"id"`
			} `json:"sessions"`
			NextCursor string `json:"next_cursor"`
		}
		if err := a.do(ctx, "GET", "/api/sessions?"+q.Encode(), nil, &page); err != nil {
			return "", err
		}
		for _, s := range page.Sessions {
			if strings.HasPrefix(s.ID, prefix) {
				matches = append(matches, s.ID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no session's id starts with %s", prefix)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("%d sessions' ids start with %s: %s; give more of the id", len(matches), prefix, strings.Join(matches, ", "))
}
