package config

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Verify configures the evidence verification worker (HUB_VERIFY_*). Zero
// values take the worker's defaults.
type Verify struct {
	// Disabled turns the worker off (HUB_VERIFY_DISABLED).
	Disabled bool `yaml:"disabled"`
	// GiveUpAfter is how long a manifest may be missing from the store
	// before the infraction is flagged 'unverified' (HUB_VERIFY_GIVE_UP_AFTER, default 24h).
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// Interval between polls when nothing is pending (HUB_VERIFY_INTERVAL, default 5s).
	Interval time.Duration `yaml:"interval"`
}

// Liveness configures the device liveness job (HUB_LIVENESS_*).
type Liveness struct {
	// SilentAfter is the window without status after which a device is
	// silent (HUB_LIVENESS_SILENT_AFTER, default 3m).
	SilentAfter time.Duration `yaml:"silent_after"`
	// Interval between scans (HUB_LIVENESS_INTERVAL, default SilentAfter/6).
	Interval time.Duration `yaml:"interval"`
}

// SUNARP configures vehicle enrichment from the registry gateway
// (HUB_SUNARP_*); enrichment is off while URL is empty.
type SUNARP struct {
	// URL is the gateway's base URL (HUB_SUNARP_URL), e.g. https://sunarp.example.gob.pe/api.
	URL string `yaml:"url"`
	// Token is the gateway's bearer token (HUB_SUNARP_TOKEN).
	Token Secret `yaml:"token"`
	// Timeout of one lookup (HUB_SUNARP_TIMEOUT, default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TTL after which a plate is looked up again (HUB_SUNARP_TTL, default 24h).
	TTL time.Duration `yaml:"ttl"`
}

func (c *Config) applyIntegrityEnv(getenv func(string) string) []error {
	var errs []error
	dur := func(name string, dst *time.Duration) {
		if v, ok := lookup(getenv, name); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a duration (e.g. 3m)", name, v))
				return
			}
			*dst = d
		}
	}
	if v, ok := lookup(getenv, "HUB_VERIFY_DISABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUB_VERIFY_DISABLED: %q is not a boolean", v))
		}
		c.Verify.Disabled = b
	}
	dur("HUB_VERIFY_GIVE_UP_AFTER", &c.Verify.GiveUpAfter)
	dur("HUB_VERIFY_INTERVAL", &c.Verify.Interval)
	dur("HUB_LIVENESS_SILENT_AFTER", &c.Liveness.SilentAfter)
	dur("HUB_LIVENESS_INTERVAL", &c.Liveness.Interval)
	if v, ok := lookup(getenv, "HUB_SUNARP_URL"); ok {
		c.SUNARP.URL = v
	}
	if v, ok := lookup(getenv, "HUB_SUNARP_TOKEN"); ok {
		c.SUNARP.Token = Secret(v)
	}
	dur("HUB_SUNARP_TIMEOUT", &c.SUNARP.Timeout)
	dur("HUB_SUNARP_TTL", &c.SUNARP.TTL)
	return errs
}

func (c Config) validateIntegrity() []error {
	var errs []error
	neg := func(field string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", field))
		}
	}
	neg("verify.give_up_after (HUB_VERIFY_GIVE_UP_AFTER)", c.Verify.GiveUpAfter)
	neg("verify.interval (HUB_VERIFY_INTERVAL)", c.Verify.Interval)
	neg("liveness.silent_after (HUB_LIVENESS_SILENT_AFTER)", c.Liveness.SilentAfter)
	neg("liveness.interval (HUB_LIVENESS_INTERVAL)", c.Liveness.Interval)
	neg("sunarp.timeout (HUB_SUNARP_TIMEOUT)", c.SUNARP.Timeout)
	neg("sunarp.ttl (HUB_SUNARP_TTL)", c.SUNARP.TTL)
	if c.SUNARP.URL != "" {
		if u, err := url.Parse(c.SUNARP.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Errorf("sunarp.url (HUB_SUNARP_URL): %q must be an http(s) URL without credentials (use sunarp.token)", redactURL(c.SUNARP.URL)))
		}
	}
	return errs
}
