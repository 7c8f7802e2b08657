// Package config loads the hub's configuration: defaults, then a YAML file,
// then HUB_* environment variables, then flags; Validate reports every
// problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-pe/vigia/shared/secret"
	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints (logs, errors, JSON).
type Secret = secret.String

// Config is the whole hub configuration.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (HUB_DATABASE_URL). It may hold a password: it is a Secret.
	DatabaseURL Secret `yaml:"database_url"`
	// HTTPAddr is where the API listens (HUB_HTTP_ADDR). Bind to loopback until authentication lands.
	HTTPAddr string   `yaml:"http_addr"`
	MQTT     MQTT     `yaml:"mqtt"`
	Evidence Evidence `yaml:"evidence"`
	// LogLevel is debug, info, warn or error (HUB_LOG_LEVEL).
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json (HUB_LOG_FORMAT).
	LogFormat string `yaml:"log_format"`
	// Auth configures the API's authentication and review workflow.
	Auth Auth `yaml:"auth"`
	// CORSOrigins are the browser origins allowed to call the API (HUB_CORS_ORIGINS, comma-separated).
	CORSOrigins []string `yaml:"cors_origins"`
	// Verify, Liveness and SUNARP configure the integrity workers (integrity.go).
	Verify   Verify   `yaml:"verify"`
	Liveness Liveness `yaml:"liveness"`
	SUNARP   SUNARP   `yaml:"sunarp"`
}

// Auth configures API authentication (HUB_JWT_*, HUB_*_TTL, HUB_TWO_PERSON_RULE).
type Auth struct {
	// JWTKey signs access tokens: at least 32 bytes (HUB_JWT_KEY).
	JWTKey Secret `yaml:"jwt_key"`
	// JWTKeyFile holds the key instead (HUB_JWT_KEY_FILE).
	JWTKeyFile string `yaml:"jwt_key_file"`
	// DevEphemeralKey lets serve start without a key by generating one per run
	// (tokens die with the process). Development only (HUB_DEV_EPHEMERAL_KEY).
	DevEphemeralKey bool `yaml:"dev_ephemeral_key"`
	// AccessTTL is the access token lifetime (HUB_ACCESS_TTL).
	AccessTTL time.Duration `yaml:"access_ttl"`
	// RefreshTTL is a session's lifetime without refresh (HUB_REFRESH_TTL).
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// MaxFailedLogins consecutive failures lock an account for Lockout (HUB_MAX_FAILED_LOGINS, HUB_LOCKOUT).
	MaxFailedLogins int           `yaml:"max_failed_logins"`
	Lockout         time.Duration `yaml:"lockout"`
	// TwoPersonRule: a review decision is a proposal until a second reviewer confirms it (HUB_TWO_PERSON_RULE).
	TwoPersonRule bool `yaml:"two_person_rule"`
}

// ErrNoJWTKey is returned by SigningKey when no key is configured.
var ErrNoJWTKey = errors.New("config: no JWT signing key: set HUB_JWT_KEY (32+ bytes) or HUB_JWT_KEY_FILE, or HUB_DEV_EPHEMERAL_KEY=true for development")

// SigningKey returns the configured JWT key (file or value). With neither,
// it returns ErrNoJWTKey; the caller decides whether DevEphemeralKey applies.
func (a Auth) SigningKey() ([]byte, error) {
	if a.JWTKeyFile != "" {
		b, err := os.ReadFile(a.JWTKeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: read jwt_key_file: %w", err)
		}
		k := bytes.TrimSpace(b)
		if len(k) < 32 {
			return nil, fmt.Errorf("config: jwt_key_file holds %d bytes; at least 32 are required", len(k))
		}
		return k, nil
	}
	if a.JWTKey != "" {
		if len(a.JWTKey) < 32 {
			return nil, fmt.Errorf("config: jwt_key (HUB_JWT_KEY) is %d bytes; at least 32 are required", len(a.JWTKey))
		}
		return []byte(a.JWTKey.Reveal()), nil
	}
	return nil, ErrNoJWTKey
}

// MQTT configures the broker side.
type MQTT struct {
	// URL of an external broker, e.g. mqtt://127.0.0.1:1883 (HUB_MQTT_URL). Empty: run the embedded broker.
	URL string `yaml:"url"`
	// Listen is the embedded broker's address (HUB_MQTT_LISTEN).
	Listen string `yaml:"listen"`
	// ClientID of the hub's consumer session (HUB_MQTT_CLIENT_ID); replicas need distinct ids.
	ClientID string `yaml:"client_id"`
	// ShareGroup, when set, subscribes through MQTT 5 shared subscriptions
	// ($share/<group>/...) so that replicas split the load (HUB_MQTT_SHARE_GROUP).
	// Off by default (empty, or "none" in the environment): Mosquitto 2.0
	// does not restore shared subscriptions from its persistence file, so
	// after a broker restart the messages agents publish before the hub
	// resubscribes are acknowledged and dropped; a plain subscription's
	// persistent session keeps them. Set a group (e.g. DefaultShareGroup) only
	// for several replicas on a broker that persists shared subscriptions.
	ShareGroup string `yaml:"share_group"`
	Username   string `yaml:"username"`
	Password   Secret `yaml:"password"`
	// SessionExpiry keeps the hub's broker session (and its queued messages) across hub restarts.
	SessionExpiry time.Duration `yaml:"session_expiry"`
}

// Evidence configures where evidence files live.
type Evidence struct {
	// Dir is the local evidence directory used when no S3 endpoint is set (HUB_EVIDENCE_DIR).
	Dir string `yaml:"dir"`
	S3  S3     `yaml:"s3"`
}

// S3 configures MinIO/S3 (HUB_S3_*).
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // host:port, empty = local directory
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
	UseTLS    bool   `yaml:"use_tls"`
	Region    string `yaml:"region"`
}

// DefaultShareGroup is the suggested MQTT shared-subscription group of hub replicas.
const DefaultShareGroup = "vigia-hub"

// Default returns the single-box defaults.
func Default() Config {
	return Config{
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/vigia?sslmode=disable",
		HTTPAddr:    "127.0.0.1:8080",
		MQTT: MQTT{
			Listen:        "127.0.0.1:1884",
			ClientID:      "vigia-hub",
			SessionExpiry: 24 * time.Hour,
		},
		Evidence:  Evidence{Dir: "./data/evidence", S3: S3{Bucket: "evidence", Region: "us-east-1"}},
		LogLevel:  "info",
		LogFormat: "text",
		Auth:      Auth{AccessTTL: time.Hour, RefreshTTL: 7 * 24 * time.Hour, MaxFailedLogins: 5, Lockout: 15 * time.Minute},
	}
}

// Load applies defaults, the YAML file at path (if not empty) and the environment.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: parse %s: %w", path, err)
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(getenv, name); ok {
			*dst = v
		}
	}
	sec := func(name string, dst *Secret) {
		if v, ok := lookup(getenv, name); ok {
			*dst = Secret(v)
		}
	}
	sec("HUB_DATABASE_URL", &c.DatabaseURL)
	str("HUB_HTTP_ADDR", &c.HTTPAddr)
	str("HUB_MQTT_URL", &c.MQTT.URL)
	str("HUB_MQTT_LISTEN", &c.MQTT.Listen)
	str("HUB_MQTT_CLIENT_ID", &c.MQTT.ClientID)
	str("HUB_MQTT_SHARE_GROUP", &c.MQTT.ShareGroup)
	if c.MQTT.ShareGroup == "none" {
		c.MQTT.ShareGroup = ""
	}
	str("HUB_MQTT_USERNAME", &c.MQTT.Username)
	sec("HUB_MQTT_PASSWORD", &c.MQTT.Password)
	str("HUB_EVIDENCE_DIR", &c.Evidence.Dir)
	str("HUB_S3_ENDPOINT", &c.Evidence.S3.Endpoint)
	str("HUB_S3_BUCKET", &c.Evidence.S3.Bucket)
	str("HUB_S3_ACCESS_KEY", &c.Evidence.S3.AccessKey)
	sec("HUB_S3_SECRET_KEY", &c.Evidence.S3.SecretKey)
	str("HUB_S3_REGION", &c.Evidence.S3.Region)
	if v, ok := lookup(getenv, "HUB_S3_USE_TLS"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUB_S3_USE_TLS: %q is not a boolean", v))
		}
		c.Evidence.S3.UseTLS = b
	}
	if v, ok := lookup(getenv, "HUB_MQTT_SESSION_EXPIRY"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUB_MQTT_SESSION_EXPIRY: %q is not a duration (e.g. 24h)", v))
		}
		c.MQTT.SessionExpiry = d
	}
	str("HUB_LOG_LEVEL", &c.LogLevel)
	str("HUB_LOG_FORMAT", &c.LogFormat)
	errs = append(errs, c.applyAuthEnv(getenv)...)
	errs = append(errs, c.applyIntegrityEnv(getenv)...)
	return errors.Join(errs...)
}

func (c *Config) applyAuthEnv(getenv func(string) string) []error {
	var errs []error
	if v, ok := lookup(getenv, "HUB_JWT_KEY"); ok {
		c.Auth.JWTKey = Secret(v)
	}
	if v, ok := lookup(getenv, "HUB_JWT_KEY_FILE"); ok {
		c.Auth.JWTKeyFile = v
	}
	if v, ok := lookup(getenv, "HUB_CORS_ORIGINS"); ok {
		c.CORSOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.CORSOrigins = append(c.CORSOrigins, o)
			}
		}
	}
	for name, dst := range map[string]*bool{"HUB_DEV_EPHEMERAL_KEY": &c.Auth.DevEphemeralKey, "HUB_TWO_PERSON_RULE": &c.Auth.TwoPersonRule} {
		if v, ok := lookup(getenv, name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a boolean", name, v))
			}
			*dst = b
		}
	}
	for name, dst := range map[string]*time.Duration{"HUB_ACCESS_TTL": &c.Auth.AccessTTL, "HUB_REFRESH_TTL": &c.Auth.RefreshTTL, "HUB_LOCKOUT": &c.Auth.Lockout} {
		if v, ok := lookup(getenv, name); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a duration (e.g. 1h)", name, v))
			}
			*dst = d
		}
	}
	if v, ok := lookup(getenv, "HUB_MAX_FAILED_LOGINS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUB_MAX_FAILED_LOGINS: %q is not an integer", v))
		}
		c.Auth.MaxFailedLogins = n
	}
	return errs
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.DatabaseURL == "" {
		bad("database_url (HUB_DATABASE_URL)", "required")
	} else if u, err := url.Parse(string(c.DatabaseURL)); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("database_url (HUB_DATABASE_URL)", "must be a postgres:// URL")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("http_addr (HUB_HTTP_ADDR)", "%q is not host:port", c.HTTPAddr)
	}
	if c.MQTT.URL == "" {
		if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			bad("mqtt.listen (HUB_MQTT_LISTEN)", "%q is not host:port", c.MQTT.Listen)
		}
	} else if u, err := url.Parse(c.MQTT.URL); err != nil || !oneOf(u.Scheme, "mqtt", "tcp", "tls", "mqtts", "ssl") || u.Host == "" {
		bad("mqtt.url (HUB_MQTT_URL)", "%q must look like mqtt://host:port", redactURL(c.MQTT.URL))
	}
	if c.MQTT.ClientID == "" || strings.ContainsAny(c.MQTT.ClientID, "/+#") {
		bad("mqtt.client_id (HUB_MQTT_CLIENT_ID)", "required, without / + #")
	}
	if strings.ContainsAny(c.MQTT.ShareGroup, "/+#") {
		bad("mqtt.share_group (HUB_MQTT_SHARE_GROUP)", "must not contain / + #")
	}
	if c.MQTT.SessionExpiry < 0 {
		bad("mqtt.session_expiry", "must not be negative")
	}
	if c.Evidence.S3.Endpoint == "" {
		if c.Evidence.Dir == "" {
			bad("evidence.dir (HUB_EVIDENCE_DIR)", "required when no S3 endpoint is set")
		}
	} else {
		if strings.Contains(c.Evidence.S3.Endpoint, "://") {
			bad("evidence.s3.endpoint (HUB_S3_ENDPOINT)", "give host:port without a scheme (use use_tls)")
		}
		if c.Evidence.S3.Bucket == "" {
			bad("evidence.s3.bucket (HUB_S3_BUCKET)", "required with an S3 endpoint")
		}
		if c.Evidence.S3.AccessKey == "" || c.Evidence.S3.SecretKey == "" {
			bad("evidence.s3 (HUB_S3_ACCESS_KEY/HUB_S3_SECRET_KEY)", "credentials required with an S3 endpoint")
		}
	}
	if c.Auth.AccessTTL < time.Minute || c.Auth.AccessTTL > 24*time.Hour {
		bad("auth.access_ttl (HUB_ACCESS_TTL)", "must be within 1m..24h")
	}
	if c.Auth.RefreshTTL < c.Auth.AccessTTL || c.Auth.RefreshTTL > 90*24*time.Hour {
		bad("auth.refresh_ttl (HUB_REFRESH_TTL)", "must be at least access_ttl and at most 90 days")
	}
	if c.Auth.MaxFailedLogins < 1 || c.Auth.MaxFailedLogins > 100 {
		bad("auth.max_failed_logins (HUB_MAX_FAILED_LOGINS)", "must be within 1..100")
	}
	if c.Auth.Lockout < time.Second || c.Auth.Lockout > 24*time.Hour {
		bad("auth.lockout (HUB_LOCKOUT)", "must be within 1s..24h")
	}
	if c.Auth.JWTKey != "" && len(c.Auth.JWTKey) < 32 {
		bad("auth.jwt_key (HUB_JWT_KEY)", "must be at least 32 bytes")
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("cors_origins (HUB_CORS_ORIGINS)", "%q is not an origin like https://panel.example.pe", o)
		}
	}
	if !oneOf(c.LogLevel, "debug", "info", "warn", "error") {
		bad("log_level (HUB_LOG_LEVEL)", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if !oneOf(c.LogFormat, "text", "json") {
		bad("log_format (HUB_LOG_FORMAT)", "%q is not text or json", c.LogFormat)
	}
	errs = append(errs, c.validateIntegrity()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  - %w", joinLines(errs))
	}
	return nil
}

func joinLines(errs []error) error {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return errors.New(strings.Join(parts, "\n  - "))
}

func oneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}

// redactURL hides a password in a URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Logger builds the slog logger the configuration asks for.
func (c Config) Logger(w *os.File) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
