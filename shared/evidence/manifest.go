// Package evidence defines the signed evidence manifest of one infraction:
// which files make up the evidence package (video clip, snapshots, plate
// crops) with their sizes and SHA-256 hashes, the identity of the camera,
// calibration and models that produced it, the state of the clock, the clip
// window, and a per-device hash chain that makes deleting or reordering
// packages detectable. Each manifest is signed with the device's Ed25519 key.
// The package uses the standard library only, so that the hub, an auditor's
// tool or a court expert can verify evidence without the agent's code.
//
// # Canonical encoding (what is signed)
//
// The signed bytes are the output of Go's encoding/json Marshal applied to the
// Manifest struct with the Signature field set to the empty string:
//   - one JSON object, no whitespace between tokens, no trailing newline;
//   - keys in the order of the struct fields below (the order of the JSON
//     example in testdata/v1/), nested objects likewise; the models map has
//     its keys sorted bytewise; fields tagged omitempty are left out when empty;
//   - strings escaped as encoding/json does: UTF-8 kept as is, except '<',
//     '>', '&', U+2028 and U+2029 written as \u003c, \u003e, \u0026, \u2028,
//     \u2029, and control characters as \n, \r, \t or \u00XX;
//   - times in RFC 3339 with up to nanosecond precision and trailing zeros of
//     the fraction removed (Go's time.RFC3339Nano), in UTC ("Z");
//   - integers in decimal; the manifest holds no floating-point numbers.
//
// The signature is Ed25519 (RFC 8032, pure, no pre-hash) over those bytes,
// stored in "signature" as standard base64 with padding. "key_id" names the
// signing key: the first 16 hex digits of SHA-256 over the 32-byte raw public
// key. The manifest file (manifest.json) holds the same encoding with the
// signature filled in; Hash is the lowercase hex SHA-256 of exactly that
// encoding, and each manifest stores the Hash of the device's previous one in
// "prev_hash" (64 zeros for sequence 1). An auditor may re-implement the
// encoding, but need not: manifest.json is itself the canonical encoding,
// with no trailing newline, and "signature" is its last member (base64 holds
// no quote or backslash), so the signed bytes are the file's bytes with the
// final "signature":"<base64>" replaced by "signature":"". With OpenSSL 3
// and pub.pem from `agent evidence pubkey`:
//
//	sed 's/"signature":"[^"]*"}$/"signature":""}/' manifest.json | tr -d '\n' > signed.bin
//	grep -o '"signature":"[^"]*"' manifest.json | cut -d'"' -f4 | base64 -d > sig.bin
//	openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in signed.bin -sigfile sig.bin
//	sha256sum clip.mp4   # and compare with "files"
//
// Compatibility: within schema version 1 changes are additive only. Because
// a verifier re-encodes the manifest, a reader refuses fields it does not know
// (instead of silently dropping them and reporting a bad signature): verify
// newer manifests with a newer reader.
//
// SchemaVersion history:
//   - 1 (2026-11-28): v, event_id, device_id, camera_id, infraction,
//     detected_at, files [{name, role, size, sha256, content_type}],
//     calibration {id, sha256}, models {name: {version, sha256}},
//     agent_version, clock {synced, source, offset_ms}, clip {requested_before_ms,
//     requested_after_ms, start, end, short, short_reason}, sequence, prev_hash,
//     created_at, key_id, signature. Roles "video_clip", "snapshot",
//     "plate_crop"; clock sources "rtcp-ntp", "system".
package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// SchemaVersion is the manifest format version this package reads and writes.
const SchemaVersion = 1

// ManifestFile is the name of the manifest inside an evidence package.
const ManifestFile = "manifest.json"

// MaxManifestBytes bounds an accepted manifest; larger inputs are refused.
const MaxManifestBytes = 1 << 20

// ZeroHash is the prev_hash of a device's first manifest (sequence 1).
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Role says what an evidence file shows.
type Role string

// File roles; never renamed or reused.
const (
	RoleVideoClip Role = "video_clip"
	RoleSnapshot  Role = "snapshot"
	RolePlateCrop Role = "plate_crop"
)

// Clock sources; never renamed or reused.
const (
	ClockRTCPNTP = "rtcp-ntp"
	ClockSystem  = "system"
)

// File is one file of an evidence package, stored beside the manifest.
type File struct {
	Name        string `json:"name"`
	Role        Role   `json:"role"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// Calibration identifies the camera calibration used for measurements.
type Calibration struct {
	ID     string `json:"id,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Model identifies one model that took part in the detection.
type Model struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
}

// Clock records how the capture times were obtained.
type Clock struct {
	Synced   bool   `json:"synced"`
	Source   string `json:"source"`
	OffsetMS int64  `json:"offset_ms"`
}

// ClipWindow records the requested and actual extent of the video clip.
type ClipWindow struct {
	RequestedBeforeMS int64     `json:"requested_before_ms"`
	RequestedAfterMS  int64     `json:"requested_after_ms"`
	Start             time.Time `json:"start"`
	End               time.Time `json:"end"`
	// Short is set when the buffer held less than requested before the event.
	Short       bool   `json:"short,omitempty"`
	ShortReason string `json:"short_reason,omitempty"`
}

// Manifest is the signed description of one infraction's evidence package.
type Manifest struct {
	V            int              `json:"v"`
	EventID      string           `json:"event_id"`
	DeviceID     string           `json:"device_id"`
	CameraID     string           `json:"camera_id"`
	Infraction   string           `json:"infraction"`
	DetectedAt   time.Time        `json:"detected_at"`
	Files        []File           `json:"files"`
	Calibration  Calibration      `json:"calibration"`
	Models       map[string]Model `json:"models,omitempty"`
	AgentVersion string           `json:"agent_version"`
	Clock        Clock            `json:"clock"`
	Clip         *ClipWindow      `json:"clip,omitempty"`
	Sequence     uint64           `json:"sequence"`
	PrevHash     string           `json:"prev_hash"`
	CreatedAt    time.Time        `json:"created_at"`
	KeyID        string           `json:"key_id"`
	Signature    string           `json:"signature"`
}

// Encode returns the manifest's canonical encoding, signature included: the
// bytes of manifest.json.
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode manifest: %w", err)
	}
	return b, nil
}

// SigningBytes returns the canonical encoding with an empty signature: the
// bytes the Ed25519 signature covers.
func (m *Manifest) SigningBytes() ([]byte, error) {
	c := *m
	c.Signature = ""
	return c.Encode()
}

// Hash returns the lowercase hex SHA-256 of the manifest's canonical encoding
// (signature included); the next manifest of the device stores it as prev_hash.
func Hash(m *Manifest) string {
	b, err := m.Encode()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// KeyID returns the first 16 hex digits of SHA-256 over the raw public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])[:16]
}

// Decode parses a manifest file. It refuses oversized input, unknown fields,
// trailing data, other schema versions and structurally invalid manifests; it
// does not check the signature (see Verify).
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("evidence: manifest of %d bytes exceeds %d", len(b), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("evidence: decode manifest: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("evidence: decode manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate reports every structural problem of the manifest at once.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if m.V != SchemaVersion {
		bad("v is %d, this reader knows %d", m.V, SchemaVersion)
	}
	if err := ValidComponent(m.EventID); err != nil {
		bad("event_id: %v", err)
	}
	if m.DeviceID == "" {
		bad("device_id is empty")
	}
	if err := ValidComponent(m.CameraID); err != nil {
		bad("camera_id: %v", err)
	}
	if m.Infraction == "" {
		bad("infraction is empty")
	}
	if m.DetectedAt.IsZero() {
		bad("detected_at is missing")
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		if err := ValidComponent(f.Name); err != nil {
			bad("files[%d].name: %v", i, err)
		} else if f.Name == ManifestFile {
			bad("files[%d].name: %q is reserved", i, f.Name)
		}
		if seen[f.Name] {
			bad("files[%d].name: %q listed twice", i, f.Name)
		}
		seen[f.Name] = true
		switch f.Role {
		case RoleVideoClip, RoleSnapshot, RolePlateCrop:
		default:
			bad("files[%d].role: unknown role %q", i, f.Role)
		}
		if f.Size < 0 {
			bad("files[%d].size is negative", i)
		}
		if !isHex(f.SHA256, 64) {
			bad("files[%d].sha256 is not 64 lowercase hex digits", i)
		}
	}
	if m.Calibration.SHA256 != "" && !isHex(m.Calibration.SHA256, 64) {
		bad("calibration.sha256 is not 64 lowercase hex digits")
	}
	for name, md := range m.Models {
		if md.SHA256 != "" && !isHex(md.SHA256, 64) {
			bad("models[%q].sha256 is not 64 lowercase hex digits", name)
		}
	}
	if m.Sequence == 0 {
		bad("sequence must start at 1")
	}
	if !isHex(m.PrevHash, 64) {
		bad("prev_hash is not 64 lowercase hex digits")
	} else if m.Sequence == 1 && m.PrevHash != ZeroHash {
		bad("sequence 1 must have the all-zero prev_hash")
	}
	if m.CreatedAt.IsZero() {
		bad("created_at is missing")
	}
	if len(errs) > 0 {
		return fmt.Errorf("evidence: invalid manifest: %w", errors.Join(errs...))
	}
	return nil
}

// ValidComponent reports whether s can name one path component of an
// evidence package (event id, camera id, file name): non-empty, at most 128
// bytes of letters, digits, '.', '-' and '_', not starting with '.'.
func ValidComponent(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 128 {
		return fmt.Errorf("%d bytes, longer than 128", len(s))
	}
	if s[0] == '.' {
		return fmt.Errorf("%q starts with '.'", s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("%q holds %q; only letters, digits, '.', '-' and '_' are allowed", s, r)
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Sign normalises the manifest (schema version, UTC times, key id), validates
// it and stores the Ed25519 signature over its canonical encoding.
func Sign(m *Manifest, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("evidence: sign: private key of %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	m.V = SchemaVersion
	m.DetectedAt = m.DetectedAt.UTC()
	m.CreatedAt = m.CreatedAt.UTC()
	if m.Clip != nil {
		m.Clip.Start = m.Clip.Start.UTC()
		m.Clip.End = m.Clip.End.UTC()
	}
	if m.Sequence == 1 && m.PrevHash == "" {
		m.PrevHash = ZeroHash
	}
	m.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	m.Signature = ""
	if err := m.Validate(); err != nil {
		return err
	}
	msg, err := m.SigningBytes()
	if err != nil {
		return err
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
	return nil
}

// Verify checks the manifest's signature against pub; it does not look at
// the files (see VerifyDir).
func Verify(m *Manifest, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("evidence: verify: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if want := KeyID(pub); m.KeyID != want {
		return fmt.Errorf("evidence: signed by key %q, not by the given key %q", m.KeyID, want)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("evidence: signature is not a base64 Ed25519 signature")
	}
	msg, err := m.SigningBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return errors.New("evidence: signature does not match the manifest's content (manifest altered or signed by another key)")
	}
	return nil
}

// ContentType guesses a file's content type from its extension; a fixed
// table so that manifests do not depend on the host's MIME database.
func ContentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mp4":
		return "video/mp4"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	case ".h264", ".264":
		return "video/h264"
	}
	return "application/octet-stream"
}
