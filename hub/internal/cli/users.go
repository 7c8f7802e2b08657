package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"golang.org/x/term"
)

// userCmd manages API users; `hub user create` makes the first admin.
func userCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage API users"}
	var role, email, fullName string
	create := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a user; the password is read from stdin (never from argv)",
		Long: `Create an API user. The password is read from standard input: typed without
echo on a terminal, or the first line of a pipe, e.g.

  printf '%s\n' "$PASSWORD" | hub user create admin --role admin --email admin@muni.gob.pe`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			if !auth.ValidRole(role) {
				return fmt.Errorf("--role must be admin, supervisor, operator or auditor, not %q", role)
			}
			email = strings.ToLower(strings.TrimSpace(email))
			if !strings.Contains(email, "@") {
				return errors.New("--email is required")
			}
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			var fn *string
			if fullName != "" {
				fn = &fullName
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				if _, err := s.Migrate(ctx); err != nil {
					return err
				}
				u, err := s.CreateUser(ctx, db.User{Username: username, Email: email, PasswordHash: hash, Role: role, FullName: fn, IsActive: true},
					db.Actor{Username: "system:cli"})
				if errors.Is(err, db.ErrConflict) {
					return fmt.Errorf("a user with username %q or email %q already exists", username, email)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s created (id %s, role %s)\n", u.Username, u.ID, u.Role)
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, supervisor, operator or auditor (required)")
	create.Flags().StringVar(&email, "email", "", "e-mail address (required)")
	create.Flags().StringVar(&fullName, "full-name", "", "full name")
	passwd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set a user's password (stdin), unlock the account and close its sessions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				u, err := s.UserByUsername(ctx, args[0])
				if errors.Is(err, db.ErrNotFound) {
					return fmt.Errorf("no user %q", args[0])
				}
				if err != nil {
					return err
				}
				if _, err := s.UpdateUser(ctx, u.ID, db.UserPatch{PasswordHash: &hash}, db.Actor{Username: "system:cli"}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; account unlocked; sessions closed\n", u.Username)
				return nil
			})
		},
	}
	cmd.AddCommand(create, passwd)
	return cmd
}

// readPassword reads a password without echo from a terminal, or the first line of a pipe.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}
