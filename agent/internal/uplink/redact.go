package uplink

import (
	"regexp"
	"strings"
)

// userinfoRe matches the credentials part of a URL ("scheme://user:pass@").
var userinfoRe = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// redact removes URL credentials and the given secret strings from msg, so
// that an error text can be logged or stored in the outbox.
func redact(msg string, secrets ...string) string {
	msg = userinfoRe.ReplaceAllString(msg, "${1}xxxxx@")
	for _, s := range secrets {
		if len(s) >= 4 { // a very short "secret" would shred the message
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// Redact removes URL credentials (rtsp://user:pass@...) and the given
// secrets from msg, for texts that leave the process or reach a log: error
// messages in command acknowledgements, for instance.
func Redact(msg string, secrets ...string) string { return redact(msg, secrets...) }
