// Package evidence keeps the court-grade evidence of the agent's infractions:
// it holds the device's Ed25519 signing key, writes each infraction's files
// into a package directory with a signed manifest chained to the device's
// previous one (format in shared/evidence), and keeps the chain consistent
// across crashes. Subpackage clip buffers the encoded stream and cuts the
// video clip.
//
// On-disk layout under the agent's data directory:
//
//	keys/device.key                 private key, PEM PKCS#8, mode 0600 (dir 0700)
//	evidence/chain.json             per device: chain head (sequence, hash, path)
//	                                and the package being moved into place, if any
//	evidence/chain.lock             flock(2) serialising writers across processes
//	evidence/<yyyy>/<mm>/<dd>/<camera>/<event-id>/   one package; the UTC date
//	                                the package was written (manifest created_at)
//	evidence.staging/<event-id>/    a package being assembled (same file system)
//
// Write order, so that a crash at any point leaves a consistent chain: files
// and manifest are written and fsynced in staging; chain.json records the
// package as pending; the staging directory is renamed into place and its
// parents fsynced; chain.json makes it the head. On the next Write a pending
// package is adopted if it is in place with the recorded hash, else dropped;
// NewWriter also clears staging and adopts packages newer than chain.json
// found on disk (chain.json lost or restored from a backup), and refuses to
// start if one does not extend the chain, rather than fork it.
//
// The public key is exported as PEM (PKIX "PUBLIC KEY"), the format openssl
// and shared/evidence.ParsePublicKey read.
package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// KeyPath returns the device key's path inside the data directory.
func KeyPath(dataDir string) string { return filepath.Join(dataDir, "keys", "device.key") }

// LoadOrCreateKey returns the device's signing key, generating it on first
// use. It refuses a key file (or keys directory) readable or writable by
// anyone but its owner.
func LoadOrCreateKey(dataDir string) (ed25519.PrivateKey, error) {
	path := KeyPath(dataDir)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence: create data directory: %w", err)
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("evidence: create key directory: %w", err)
	}
	key, err := LoadKey(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("evidence: generate device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode device key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// O_EXCL: when two processes race on first use, one creates the key and
	// the other loads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: create device key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("evidence: write device key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("evidence: sync device key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("evidence: close device key %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return priv, nil
}

// LoadKey reads the existing device key; the error wraps fs.ErrNotExist when
// there is none.
func LoadKey(dataDir string) (ed25519.PrivateKey, error) {
	path := KeyPath(dataDir)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("evidence: device key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("evidence: device key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("evidence: refusing device key %s: permissions %04o let others read or write it; it must be readable by its owner only (chmod 600 %s)", path, perm, path)
	}
	if di, err := os.Stat(filepath.Dir(path)); err == nil && di.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("evidence: refusing device key: directory %s has permissions %04o; it must be accessible by its owner only (chmod 700 %s)", filepath.Dir(path), di.Mode().Perm(), filepath.Dir(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("evidence: read device key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("evidence: device key %s is not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		// The parser's error does not quote key material.
		return nil, fmt.Errorf("evidence: parse device key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("evidence: device key %s is %T, not Ed25519", path, k)
	}
	return priv, nil
}

// PublicKeyPEM returns the device's public key as PEM, for export.
func PublicKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	return shared.MarshalPublicKey(priv.Public().(ed25519.PublicKey))
}

// syncDir fsyncs a directory so that entries created or renamed in it survive
// a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("evidence: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("evidence: sync directory %s: %w", dir, err)
	}
	return nil
}
