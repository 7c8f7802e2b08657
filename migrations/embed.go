// Package migrations embeds the hub's numbered, forward-only SQL migrations.
// Files are named NNN_description.sql and applied in numeric order, each in
// its own transaction.
package migrations

import "embed"

// FS holds the *.sql files.
//
//go:embed *.sql
var FS embed.FS
