// Package sunarp enriches the hub's vehicles with the national vehicle
// registry (SUNARP): a client for an HTTP JSON lookup by plate and a worker
// that fills the vehicles rows ingestion creates (plate only), re-checking
// each plate after a TTL (vehicles.sunarp_last_check).
//
// # Registry contract
//
// SUNARP offers no public API; the hub talks to a registry gateway (the
// municipality's agreement service, or a proxy in front of it) that answers:
//
//	GET {base}/vehiculos/{plate}        plate as stored, e.g. ABC-123 (path-escaped)
//	Accept: application/json
//	Authorization: Bearer {token}       when a token is configured
//
//	200 {"placa":"ABC-123","marca":"TOYOTA","modelo":"COROLLA","anio":2020,
//	     "color":"GRIS","tipo":"AUTOMOVIL","fecha_inscripcion":"2020-03-15",
//	     "propietario":{"nombre":"...","dni":"12345678","direccion":"..."}}
//	404 the plate is not registered
//	429, 5xx: transient; retried (Retry-After honoured up to a bound)
//
// Field names follow the specification's client (section 5.1). Every field
// but "placa" is optional; unknown fields are ignored and kept in
// vehicles.sunarp_data. Owner data is personal data: it is never logged, and
// plates are logged only at debug level.
package sunarp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigia-pe/vigia/shared/secret"
)

// ErrNotFound is returned when the registry does not know the plate.
var ErrNotFound = errors.New("sunarp: plate not registered")

// MaxResponseBytes bounds a registry answer.
const MaxResponseBytes = 256 << 10

// Owner is the registered owner of a vehicle (personal data: never log it).
type Owner struct {
	Name    string `json:"nombre"`
	DNI     string `json:"dni"`
	Address string `json:"direccion"`
}

// Vehicle is the registry's record of one plate.
type Vehicle struct {
	Plate            string `json:"placa"`
	Brand            string `json:"marca"`
	Model            string `json:"modelo"`
	Year             int    `json:"anio"`
	Color            string `json:"color"`
	Type             string `json:"tipo"`
	RegistrationDate string `json:"fecha_inscripcion"` // YYYY-MM-DD or empty
	Owner            Owner  `json:"propietario"`
	// Raw is the registry's answer as received (vehicles.sunarp_data).
	Raw json.RawMessage `json:"-"`
}

// LogValue keeps owner data out of logs even when a Vehicle is logged by mistake.
func (v *Vehicle) LogValue() slog.Value { return slog.StringValue("sunarp.Vehicle{redacted}") }

// String keeps owner data out of formatted output.
func (v *Vehicle) String() string { return "sunarp.Vehicle{redacted}" }

// LogValue keeps owner data out of logs.
func (o Owner) LogValue() slog.Value { return slog.StringValue("sunarp.Owner{redacted}") }

// String keeps owner data out of formatted output.
func (o Owner) String() string { return "sunarp.Owner{redacted}" }

// Registered returns the registration date, or nil when absent.
func (v *Vehicle) Registered() *time.Time {
	if v.RegistrationDate == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, v.RegistrationDate)
	if err != nil {
		return nil
	}
	return &t
}

// column bounds of the vehicles table (migration 001).
var limits = []struct {
	field string
	get   func(*Vehicle) string
	max   int
}{
	{"placa", func(v *Vehicle) string { return v.Plate }, 20},
	{"marca", func(v *Vehicle) string { return v.Brand }, 100},
	{"modelo", func(v *Vehicle) string { return v.Model }, 100},
	{"color", func(v *Vehicle) string { return v.Color }, 50},
	{"tipo", func(v *Vehicle) string { return v.Type }, 50},
	{"propietario.nombre", func(v *Vehicle) string { return v.Owner.Name }, 255},
	{"propietario.dni", func(v *Vehicle) string { return v.Owner.DNI }, 20},
	{"propietario.direccion", func(v *Vehicle) string { return v.Owner.Address }, 2000},
}

// DecodeVehicle parses a registry answer for plate. Errors name the field,
// never its value (it may be personal data).
func DecodeVehicle(plate string, b []byte) (*Vehicle, error) {
	if len(b) > MaxResponseBytes {
		return nil, fmt.Errorf("sunarp: answer of %d bytes exceeds %d", len(b), MaxResponseBytes)
	}
	var v Vehicle
	if err := json.Unmarshal(b, &v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("sunarp: answer field %q has the wrong type", te.Field)
		}
		return nil, errors.New("sunarp: answer is not a JSON object")
	}
	var errs []string
	if v.Plate == "" {
		errs = append(errs, "placa is missing")
	} else if !samePlate(v.Plate, plate) {
		errs = append(errs, "placa is another plate than the one asked for")
	}
	for _, l := range limits {
		s := l.get(&v)
		if !utf8.ValidString(s) {
			errs = append(errs, l.field+" is not UTF-8")
		} else if utf8.RuneCountInString(s) > l.max {
			errs = append(errs, fmt.Sprintf("%s is longer than %d characters", l.field, l.max))
		}
	}
	if v.Year != 0 && (v.Year < 1900 || v.Year > 2200) {
		errs = append(errs, "anio is out of range")
	}
	if v.RegistrationDate != "" {
		if _, err := time.Parse(time.DateOnly, v.RegistrationDate); err != nil {
			errs = append(errs, "fecha_inscripcion is not YYYY-MM-DD")
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sunarp: invalid answer: %s", strings.Join(errs, "; "))
	}
	v.Plate = plate
	v.Raw = json.RawMessage(bytes.Clone(b))
	return &v, nil
}

// samePlate compares plates ignoring case, dashes and spaces.
func samePlate(a, b string) bool {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == ' ' {
				return -1
			}
			return r
		}, strings.ToUpper(s))
	}
	return norm(a) == norm(b)
}

// ClientConfig configures the registry client; zero fields take the defaults.
type ClientConfig struct {
	// BaseURL of the registry gateway, e.g. https://sunarp.example.gob.pe/api.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token secret.String
	// Timeout of one request (default 10 s).
	Timeout time.Duration
	// Retries of a transient failure (default 2: three tries in all).
	Retries int
	// Backoff before the first retry, doubled for each next one (default 500 ms).
	Backoff time.Duration
	// MaxRetryAfter bounds a Retry-After the server asks for (default 30 s).
	MaxRetryAfter time.Duration
	// HTTPClient overrides the transport (default: a client with Timeout).
	HTTPClient *http.Client
}

// Client looks plates up in the registry.
type Client struct {
	cfg  ClientConfig
	base *url.URL
	hc   *http.Client
}

// NewClient checks the configuration and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("sunarp: base URL must be an http(s) URL")
	}
	if u.User != nil {
		return nil, errors.New("sunarp: put credentials in the token, not in the base URL")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 30 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{cfg: cfg, base: u, hc: hc}, nil
}

// transientError is a failure worth retrying.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Lookup returns the registry's record of plate, ErrNotFound when the plate
// is not registered, or an error after the retries are spent.
func (c *Client) Lookup(ctx context.Context, plate string) (*Vehicle, error) {
	if plate == "" {
		return nil, errors.New("sunarp: empty plate")
	}
	wait := c.cfg.Backoff
	var err error
	for attempt := 0; ; attempt++ {
		var v *Vehicle
		v, err = c.lookupOnce(ctx, plate)
		var te *transientError
		if err == nil || !errors.As(err, &te) || attempt >= c.cfg.Retries {
			return v, err
		}
		d := wait
		if te.retryAfter > 0 {
			d = min(te.retryAfter, c.cfg.MaxRetryAfter)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sunarp: lookup: %w (after %v)", ctx.Err(), err)
		case <-time.After(d):
		}
		wait *= 2
	}
}

func (c *Client) lookupOnce(ctx context.Context, plate string) (*Vehicle, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.base.JoinPath("vehiculos", plate)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("sunarp: request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vigia-hub")
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error names the URL (plate only, no token): fine at debug/warn.
		return nil, &transientError{err: fmt.Errorf("sunarp: lookup: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, &transientError{err: fmt.Errorf("sunarp: read answer: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return DecodeVehicle(plate, body)
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, &transientError{err: fmt.Errorf("sunarp: registry answered %s", resp.Status), retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	default:
		// The body is not echoed: it may hold personal data or the gateway's internals.
		return nil, fmt.Errorf("sunarp: registry answered %s", resp.Status)
	}
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
