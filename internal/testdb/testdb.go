// Package testdb creates a throw-away PostgreSQL database per test on the
// local server (real PostgreSQL, PostGIS available through template1) and
// drops it when the test ends.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// New creates an empty database and returns its URL.
func New(t testing.TB) string {
	t.Helper()
	admin := testenv.PostgresURL()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testdb: admin URL: %v", err)
	}
	testenv.RequireTCP(t, u.Host)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Missing(t, "PostgreSQL at %s: %v", u.Host, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "vigia_test_" + strings.ToLower(hex.EncodeToString(b[:]))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
