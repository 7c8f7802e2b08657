package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token errors, told apart so that the API can answer with a precise code.
var (
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("token invalid")
)

const (
	issuer   = "vigia-hub"
	audience = "vigia-api"
)

// MinKeyBytes is the shortest accepted HS256 signing key.
const MinKeyBytes = 32

// Claims are the access token's claims.
type Claims struct {
	Username  string `json:"name"`
	Role      Role   `json:"role"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Tokens signs and checks access tokens (JWT, HS256) and evidence links.
type Tokens struct {
	key       []byte
	AccessTTL time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
}

// NewTokens returns a signer for key (at least MinKeyBytes long).
func NewTokens(key []byte, accessTTL time.Duration) (*Tokens, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("auth: signing key is %d bytes; at least %d are required", len(key), MinKeyBytes)
	}
	if accessTTL <= 0 {
		accessTTL = time.Hour
	}
	return &Tokens{key: append([]byte(nil), key...), AccessTTL: accessTTL, Now: time.Now}, nil
}

// NewKey returns a random signing key (for the development ephemeral key).
func NewKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// Issue returns a signed access token for the user and session, and its lifetime.
func (t *Tokens) Issue(userID, username string, role Role, sessionID string) (string, time.Duration, error) {
	now := t.Now()
	c := Claims{
		Username: username, Role: role, SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: userID, Audience: jwt.ClaimStrings{audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.AccessTTL)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, t.AccessTTL, nil
}

// Parse checks a token's signature, algorithm, issuer, audience and times.
func (t *Tokens) Parse(raw string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithAudience(audience), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.Now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrTokenExpired
		}
		return nil, ErrTokenInvalid
	}
	if c.Subject == "" || c.SessionID == "" {
		return nil, ErrTokenInvalid
	}
	return &c, nil
}

// NewRefreshToken returns an opaque refresh token and the hash to store.
func NewRefreshToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token)
}

// HashRefreshToken is the stored form of a refresh token (hex SHA-256).
func HashRefreshToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// SignLink returns an HMAC over a resource path and expiry, for links that
// must work without an Authorization header (evidence in <img>/<video>).
func (t *Tokens) SignLink(path string, expires int64) string {
	m := hmac.New(sha256.New, t.key)
	fmt.Fprintf(m, "link\x00%s\x00%d", path, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckLink verifies a SignLink signature and that it has not expired.
func (t *Tokens) CheckLink(path string, expires int64, sig string) bool {
	if expires < t.Now().Unix() {
		return false
	}
	want := t.SignLink(path, expires)
	return hmac.Equal([]byte(want), []byte(sig))
}
