package onviftest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/use-go/onvif/gosoap"
)

// TestDigestChecks sends signed requests the way use-go/onvif builds them:
// a correct digest passes once, a replayed nonce and a wrong password fail.
func TestDigestChecks(t *testing.T) {
	cam := Start(Camera{User: "admin", Password: "right", Manufacturer: "ACME"})
	defer cam.Close()
	signed := func(pass string) string {
		msg := gosoap.NewEmptySOAP()
		msg.AddStringBodyContent(`<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>`)
		msg.AddWSSecurity("admin", pass)
		return msg.String()
	}
	post := func(body string) (int, string) {
		resp, err := http.Post(cam.URL+"/onvif/device_service", "application/soap+xml", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := signed("right")
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"correct digest", good, http.StatusOK, "ACME"},
		{"replayed nonce", good, http.StatusBadRequest, "nonce replayed"},
		{"wrong password", signed("wrong"), http.StatusBadRequest, "wrong digest"},
		{"no token", strings.Replace(signed("right"), "UsernameToken", "Other", -1), http.StatusBadRequest, "no UsernameToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("status %d body %s; want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
	if cam.Denied() != 3 {
		t.Errorf("Denied = %d, want 3", cam.Denied())
	}
}
