package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
	"github.com/vigia-pe/vigia/shared/evidence"
)

// maxKeyFile bounds a public key file (PEM of an Ed25519 key is ~113 bytes).
const maxKeyFile = 16 << 10

// newDeviceKeyCmd is `hub device key`: register, list and revoke the agents'
// evidence-signing public keys (printed on the device by `agent evidence pubkey`).
func newDeviceKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the devices' evidence-signing public keys",
		Long: `The hub verifies each infraction's signed evidence manifest against the public
key registered for the device that signed it. Print a device's key on the
device with 'agent evidence pubkey' and register it here.`,
	}
	actor := func() string {
		if u := g.getenv("USER"); u != "" {
			return "cli:" + u
		}
		return "cli"
	}

	var b64, file string
	add := &cobra.Command{
		Use:   "add DEVICE (--public-key BASE64 | --file F)",
		Short: "Register a device's Ed25519 public key (base64 of the 32 raw bytes, or PEM)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			device := args[0]
			if !event.ValidDeviceID(device) {
				return fmt.Errorf("device id %q must be 1-50 of [A-Za-z0-9_.-]", device)
			}
			var raw []byte
			switch {
			case (b64 == "") == (file == ""):
				return errors.New("give exactly one of --public-key and --file")
			case b64 != "":
				raw = []byte(b64)
			default:
				b, err := readSmallFile(file, maxKeyFile)
				if err != nil {
					return err
				}
				raw = b
			}
			pub, err := evidence.ParsePublicKey(raw)
			if err != nil {
				return err
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				if _, err := s.Migrate(ctx); err != nil {
					return err
				}
				id, err := s.AddDeviceKey(ctx, device, pub, actor())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s registered for device %s\n", id, device)
				return nil
			})
		},
	}
	add.Flags().StringVar(&b64, "public-key", "", "public key: standard base64 of the 32 raw bytes, or PEM")
	add.Flags().StringVar(&file, "file", "", "file holding the public key (PEM from `agent evidence pubkey`, or base64)")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list [DEVICE]",
		Short: "List registered keys (of one device, or of all)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			device := ""
			if len(args) == 1 {
				device = args[0]
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				keys, err := s.ListDeviceKeys(ctx, device)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					for _, k := range keys {
						if err := enc.Encode(k); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DEVICE\tKEY ID\tSTATE\tREGISTERED\tPUBLIC KEY")
				for _, k := range keys {
					state := "active"
					if k.RevokedAt != nil {
						state = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.DeviceID, k.KeyID, state, k.CreatedAt.UTC().Format(time.RFC3339),
						base64.StdEncoding.EncodeToString(k.PublicKey))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")

	var reason string
	revoke := &cobra.Command{
		Use:   "revoke DEVICE KEY_ID",
		Short: "Revoke a key: manifests it signs are no longer verified",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				if err := s.RevokeDeviceKey(ctx, args[0], args[1], actor(), reason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s of device %s revoked\n", args[1], args[0])
				return nil
			})
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")

	cmd.AddCommand(add, list, revoke)
	return cmd
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read key: %s is larger than a public key file", path)
	}
	return b, nil
}
