package auth

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of new hashes (~250 ms on one core of the
// reference machine: slow enough for offline guessing, fast enough for logins).
const PasswordCost = 12

// MinPasswordLength is the shortest password accepted for a new user.
const MinPasswordLength = 10

// ErrWeakPassword is returned for passwords that are too short or too long.
var ErrWeakPassword = errors.New("password must be 10 to 72 bytes")

// HashPassword returns the bcrypt hash of pw at PasswordCost.
func HashPassword(pw string) (string, error) { return HashPasswordCost(pw, PasswordCost) }

// HashPasswordCost hashes pw at an explicit cost (tests use bcrypt.MinCost).
func HashPasswordCost(pw string, cost int) (string, error) {
	// bcrypt ignores bytes after the 72nd: refuse rather than silently truncate.
	if utf8.RuneCountInString(pw) < MinPasswordLength || len(pw) > 72 {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Passwords hashes and checks passwords at one bcrypt cost.
type Passwords struct {
	Cost  int
	dummy func() []byte
}

// NewPasswords returns a hasher at cost (tests use bcrypt.MinCost).
func NewPasswords(cost int) *Passwords {
	return &Passwords{Cost: cost, dummy: sync.OnceValue(func() []byte {
		// Compared against when the user does not exist, so that an unknown
		// username costs as much time as a wrong password.
		h, _ := bcrypt.GenerateFromPassword([]byte("vigia-dummy-password"), cost)
		return h
	})}
}

// Hash returns the bcrypt hash of pw.
func (p *Passwords) Hash(pw string) (string, error) { return HashPasswordCost(pw, p.Cost) }

// Check reports whether pw matches hash; an empty hash still costs one comparison.
func (p *Passwords) Check(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummy(), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
