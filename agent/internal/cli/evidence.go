package cli

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/evidence"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func newEvidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Verify signed evidence packages and export the device's public key",
	}
	cmd.AddCommand(newEvidenceVerifyCmd(g), newEvidencePubkeyCmd(g))
	return cmd
}

func newEvidenceVerifyCmd(g *globals) *cobra.Command {
	var (
		pubFile string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "verify [DIR]",
		Short: "Check evidence packages: file hashes, signatures and the hash chain; exit 1 on any problem",
		Long: `Verify one evidence package directory or a tree of them (default: the data
directory's evidence/). Every file's size and SHA-256, every manifest's Ed25519
signature, and the per-device hash chain across the packages are checked; each
problem is printed on its own line. Without --pubkey the device's own key from
the data directory is used.`,
		Example: `  agent evidence verify                                   # everything under <data_dir>/evidence
  agent evidence verify /mnt/usb/evidence/2026/11/28/CAM001/01JDX3K9Q... --pubkey device.pub.pem`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var dataDir string
			if len(args) == 0 || pubFile == "" {
				cfg, err := g.loadConfig(nil)
				if err != nil {
					return err
				}
				dataDir = cfg.DataDir
			}
			dir := filepath.Join(dataDir, "evidence")
			if len(args) == 1 {
				dir = args[0]
			}
			pub, err := loadVerifyKey(pubFile, dataDir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("evidence verify: %w", err)
			}
			r := evidence.VerifyTree(dir, pub)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "key %s, %s\n", shared.KeyID(pub), dir)
				fmt.Fprint(out, r.String())
			}
			if !r.OK() {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pubFile, "pubkey", "", "public key file (PEM or base64 of the raw key); default: this device's key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func loadVerifyKey(pubFile, dataDir string) (ed25519.PublicKey, error) {
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		pub, err := shared.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--pubkey %s: %w", pubFile, err)
		}
		return pub, nil
	}
	priv, err := evidence.LoadKey(dataDir)
	if err != nil {
		return nil, fmt.Errorf("%w (pass --pubkey to verify another device's evidence)", err)
	}
	return priv.Public().(ed25519.PublicKey), nil
}

func newEvidencePubkeyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey",
		Short: "Print the device's evidence-signing public key (PEM), creating the key pair on first use",
		Long: `Print the Ed25519 public key that signs this device's evidence manifests, as
PEM (PKIX "PUBLIC KEY", readable by openssl). The private key stays in
<data_dir>/keys/device.key (mode 0600) and is created if it does not exist yet,
so the public key can be registered with the hub before the first infraction.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			priv, err := evidence.LoadOrCreateKey(cfg.DataDir)
			if err != nil {
				return err
			}
			p, err := evidence.PublicKeyPEM(priv)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "key id %s\n", shared.KeyID(priv.Public().(ed25519.PublicKey)))
			_, err = cmd.OutOrStdout().Write(p)
			return err
		},
	}
}
