package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/hub/internal/config"
)

func TestServeNeedsASigningKey(t *testing.T) {
	cases := []struct {
		name    string
		auth    config.Auth
		wantErr error
		warn    bool
	}{
		{"no key refused", config.Auth{}, config.ErrNoJWTKey, false},
		{"configured key", config.Auth{JWTKey: "k-0123456789abcdef0123456789abcdef"}, nil, false},
		{"dev ephemeral key says so", config.Auth{DevEphemeralKey: true}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := config.Default()
			cfg.Auth.JWTKey, cfg.Auth.DevEphemeralKey = tc.auth.JWTKey, tc.auth.DevEphemeralKey
			tok, err := apiTokens(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tok != nil) {
				t.Fatalf("err %v, tokens %v", err, tok != nil)
			}
			if strings.Contains(logs.String(), "ephemeral") != tc.warn {
				t.Fatalf("logs %q", logs.String())
			}
		})
	}
	// Serve refuses before touching the database (the URL points nowhere).
	cfg := config.Default()
	cfg.DatabaseURL = "postgres://nobody@127.0.0.1:1/none"
	if err := Serve(t.Context(), cfg, slog.New(slog.DiscardHandler)); !errors.Is(err, config.ErrNoJWTKey) {
		t.Fatalf("Serve without a key: %v", err)
	}
}
