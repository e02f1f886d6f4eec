package cmd

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/server"
)

// followInterval is how often `sessions logs -f` asks for new output.
const followInterval = 500 * time.Millisecond

func newSessionsLogsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "logs ID",
		Short: "Print the end of a session's ChimeraX output; -f follows it",
		Long: `Print the last lines of what the session's ChimeraX printed. With -f, keep
printing new output until the session ends (or Ctrl-C). An ended session shows
the last lines its record kept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := daemon(cmd)
			if err != nil {
				return err
			}
			lines, _ := cmd.Flags().GetInt("lines")
			follow, _ := cmd.Flags().GetBool("follow")
			if lines < 1 {
				return fmt.Errorf("--lines %d: want a positive number", lines)
			}
			ctx, out, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			id, err := a.resolveID(ctx, args[0])
			if err != nil {
				return err
			}
			path := "/api/sessions/" + id + "/logs"
			var last string // the last line printed
			print := func(l []string) {
				for _, s := range l {
					fmt.Fprintln(out, s)
				}
				if len(l) > 0 {
					last = l[len(l)-1]
				}
			}

			var logs chimerax.Logs
			if err := a.do(ctx, "GET", path+"?lines="+strconv.Itoa(lines), nil, &logs); err != nil {
				return err
			}
			print(logs.Lines)
			if !follow {
				return nil
			}
			for logs.State.Live() {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(followInterval):
				}
				q := url.Values{"lines": {strconv.Itoa(chimerax.MaxLogLines)}}
				if logs.Cursor != "" {
					q.Set("cursor", logs.Cursor)
				} else {
					q.Set("lines", strconv.Itoa(lines))
				}
				var next chimerax.Logs
				if err := a.do(ctx, "GET", path+"?"+q.Encode(), nil, &next); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				switch {
				case next.Source == chimerax.LogSourceRecord && logs.Source == chimerax.LogSourceFile:
					// The files are gone: what the record kept after the
					// last line printed is all that is left.
					if last != "" {
						print(linesAfter(next.Lines, last))
					}
				case next.Skipped:
					fmt.Fprintln(stderr, "-- some output was lost to log rotation --")
					fallthrough
				default:
					print(next.Lines)
				}
				logs = next
			}
			var s server.SessionView
			if err := a.do(ctx, "GET", "/api/sessions/"+id, nil, &s); err == nil {
				fmt.Fprintf(stderr, "-- session %s ended: %s (%s)\n", s.ID, s.State, s.TerminationReason)
			}
			return nil
		},
	}
	c.Flags().IntP("lines", "n", chimerax.DefaultLogLines, fmt.Sprintf("lines to print (at most %d)", chimerax.MaxLogLines))
	c.Flags().BoolP("follow", "f", false, "keep printing new output until the session ends")
	return c
}

// linesAfter returns the lines after the last one equal to last; none if
// last is not among them.
func linesAfter(lines []string, last string) []string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] == last {
			return lines[i+1:]
		}
	}
	return nil
}
