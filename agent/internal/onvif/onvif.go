// Package onvif probes ONVIF cameras for the field technicians' `agent camera
// probe`: device information, media profiles (encoder, resolution, frame
// rate) and the RTSP URI of each profile.
//
// Requests go through github.com/use-go/onvif, which builds the SOAP
// envelopes and the WS-Security UsernameToken digest. Its response types
// lose nested schema fields (encoder, resolution) because of their XML
// tags, so responses are parsed here with namespace-agnostic structs. Only
// packages of use-go/onvif that do not log are imported (its sdk and api
// packages log through zerolog).
package onvif

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	goonvif "github.com/use-go/onvif"
	"github.com/use-go/onvif/device"
	"github.com/use-go/onvif/gosoap"
	"github.com/use-go/onvif/media"
	"github.com/use-go/onvif/networking"
	xsdonvif "github.com/use-go/onvif/xsd/onvif"
)

// Config says which camera to probe and how.
type Config struct {
	// Addr is the camera's host:port (the device service is at
	// http://Addr/onvif/device_service).
	Addr string
	// User and Password authenticate with a WS-Security UsernameToken
	// digest; the password never leaves this process in clear.
	User, Password string
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// HTTPClient replaces the default client (tests); its Timeout is kept.
	HTTPClient *http.Client
}

// DeviceInfo is the answer to GetDeviceInformation.
type DeviceInfo struct {
	Manufacturer    string `json:"manufacturer"`
	Model           string `json:"model"`
	FirmwareVersion string `json:"firmware_version"`
	SerialNumber    string `json:"serial_number"`
	HardwareID      string `json:"hardware_id" xml:"HardwareId"`
}

// Profile is one media profile of the camera.
type Profile struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	// Encoding is the video encoder's codec as the camera names it (H264,
	// H265, JPEG, MPEG4); empty when the profile has no video encoder.
	Encoding string `json:"encoding,omitempty"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	// FrameRate is the encoder's frame-rate limit; BitrateKbps its bitrate
	// limit; GOVLength the keyframe interval in frames (0 if unknown).
	FrameRate   float64 `json:"frame_rate,omitempty"`
	BitrateKbps int     `json:"bitrate_kbps,omitempty"`
	GOVLength   int     `json:"gov_length,omitempty"`
	// StreamURI is the profile's RTSP URI, or StreamURIError why there is
	// none.
	StreamURI      string `json:"stream_uri,omitempty"`
	StreamURIError string `json:"stream_uri_error,omitempty"`
}

// Report is the result of a probe.
type Report struct {
	Addr   string     `json:"addr"`
	Device DeviceInfo `json:"device"`
	// ClockOffset is the camera's clock minus this machine's, when the
	// camera answered GetSystemDateAndTime. A large offset breaks the
	// UsernameToken digest (cameras reject stale "Created" times) and the
	// NTP timestamps of the video.
	ClockOffset      time.Duration `json:"clock_offset_ns"`
	ClockOffsetKnown bool          `json:"clock_offset_known"`
	Profiles         []Profile     `json:"profiles"`
}

// FaultError is a SOAP fault returned by the camera.
type FaultError struct {
	Method     string
	HTTPStatus int
	Code       string // e.g. "env:Sender"
	Subcode    string // e.g. "ter:NotAuthorized"
	Reason     string
}

// Error implements error.
func (e *FaultError) Error() string {
	msg := fmt.Sprintf("onvif: %s: camera answered HTTP %d", e.Method, e.HTTPStatus)
	if e.Subcode != "" || e.Code != "" {
		msg += " fault " + strings.TrimSpace(e.Code+" "+e.Subcode)
	}
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// NotAuthorized reports whether the camera rejected the credentials.
func (e *FaultError) NotAuthorized() bool {
	return e.HTTPStatus == http.StatusUnauthorized || strings.HasSuffix(e.Subcode, "NotAuthorized")
}

// ErrNotAuthorized matches (errors.Is) a FaultError for rejected credentials.
var ErrNotAuthorized = errors.New("onvif: not authorized")

// Is makes errors.Is(err, ErrNotAuthorized) work.
func (e *FaultError) Is(target error) bool { return target == ErrNotAuthorized && e.NotAuthorized() }

// Probe asks the camera for its identity, profiles and stream URIs.
func Probe(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Addr == "" {
		return nil, errors.New("onvif: no camera address")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		cfg.Addr = net.JoinHostPort(cfg.Addr, "80")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := &http.Client{Timeout: cfg.Timeout}
	if cfg.HTTPClient != nil {
		*client = *cfg.HTTPClient
		if client.Timeout == 0 {
			client.Timeout = cfg.Timeout
		}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = ctxTransport{ctx: ctx, rt: base}

	rep := &Report{Addr: cfg.Addr}
	// GetSystemDateAndTime needs no credentials: it tells whether the
	// device answers at all, and how far its clock is off.
	offset, clockErr := clockOffset(client, cfg.Addr)
	if clockErr == nil {
		rep.ClockOffset, rep.ClockOffsetKnown = offset, true
	}

	dev, err := goonvif.NewDevice(goonvif.DeviceParams{Xaddr: cfg.Addr, Username: cfg.User, Password: cfg.Password, HttpClient: client})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("onvif: %s: %w", cfg.Addr, ctx.Err())
		}
		// use-go hides the cause: ask again to report it.
		if cerr := capabilitiesError(client, cfg); cerr != nil {
			return nil, withClockHint(cerr, rep)
		}
		if clockErr != nil {
			return nil, fmt.Errorf("onvif: %s: no ONVIF device service: %w", cfg.Addr, clockErr)
		}
		return nil, fmt.Errorf("onvif: %s: GetCapabilities failed", cfg.Addr)
	}

	var info struct {
		Info DeviceInfo `xml:"Body>GetDeviceInformationResponse"`
	}
	if err := call(dev, "GetDeviceInformation", device.GetDeviceInformation{}, &info); err != nil {
		return nil, withClockHint(err, rep)
	}
	rep.Device = info.Info

	var profiles getProfilesResponse
	if err := call(dev, "GetProfiles", media.GetProfiles{}, &profiles); err != nil {
		return nil, withClockHint(err, rep)
	}
	for _, p := range profiles.Profiles {
		pr := Profile{Name: p.Name, Token: p.Token}
		if v := p.Video; v != nil {
			pr.Encoding = v.Encoding
			pr.Width, pr.Height = v.Resolution.Width, v.Resolution.Height
			pr.FrameRate, pr.BitrateKbps = v.RateControl.FrameRateLimit, v.RateControl.BitrateLimit
			pr.GOVLength = max(v.H264.GovLength, v.H265.GovLength)
		}
		var uri struct {
			URI string `xml:"Body>GetStreamUriResponse>MediaUri>Uri"`
		}
		req := media.GetStreamUri{
			StreamSetup: xsdonvif.StreamSetup{
				Stream:    xsdonvif.StreamType("RTP-Unicast"),
				Transport: xsdonvif.Transport{Protocol: xsdonvif.TransportProtocol("RTSP")},
			},
			ProfileToken: xsdonvif.ReferenceToken(p.Token),
		}
		if err := call(dev, "GetStreamUri", req, &uri); err != nil {
			pr.StreamURIError = err.Error()
		} else {
			pr.StreamURI = strings.TrimSpace(uri.URI)
		}
		rep.Profiles = append(rep.Profiles, pr)
	}
	return rep, nil
}

// getProfilesResponse reads Media (ver10) profiles whatever the prefixes.
type getProfilesResponse struct {
	Profiles []struct {
		Token string `xml:"token,attr"`
		Name  string `xml:"Name"`
		Video *struct {
			Encoding   string `xml:"Encoding"`
			Resolution struct {
				Width  int `xml:"Width"`
				Height int `xml:"Height"`
			} `xml:"Resolution"`
			RateControl struct {
				FrameRateLimit float64 `xml:"FrameRateLimit"`
				BitrateLimit   int     `xml:"BitrateLimit"`
			} `xml:"RateControl"`
			H264 struct {
				GovLength int `xml:"GovLength"`
			} `xml:"H264"`
			H265 struct {
				GovLength int `xml:"GovLength"`
			} `xml:"H265"`
		} `xml:"VideoEncoderConfiguration"`
	} `xml:"Body>GetProfilesResponse>Profiles"`
}

// soapFault is a SOAP 1.2 fault (SOAP 1.1 faultcode/faultstring too).
type soapFault struct {
	Code        string `xml:"Body>Fault>Code>Value"`
	Subcode     string `xml:"Body>Fault>Code>Subcode>Value"`
	Reason      string `xml:"Body>Fault>Reason>Text"`
	FaultCode   string `xml:"Body>Fault>faultcode"`
	FaultString string `xml:"Body>Fault>faultstring"`
}

// maxResponse bounds what is read from a camera.
const maxResponse = 4 << 20

// call sends one request and decodes the response body into out.
func call(dev *goonvif.Device, method string, req any, out any) error {
	resp, err := dev.CallMethod(req)
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", method, err)
	}
	return decodeResponse(method, resp, out)
}

func decodeResponse(method string, resp *http.Response, out any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("onvif: %s: read response: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		fe := &FaultError{Method: method, HTTPStatus: resp.StatusCode}
		var f soapFault
		if xml.Unmarshal(body, &f) == nil {
			fe.Code, fe.Subcode = strings.TrimSpace(f.Code), strings.TrimSpace(f.Subcode)
			fe.Reason = strings.TrimSpace(f.Reason)
			if fe.Code == "" {
				fe.Code, fe.Reason = strings.TrimSpace(f.FaultCode), strings.TrimSpace(f.FaultString)
			}
		}
		return fe
	}
	if err := xml.Unmarshal(body, out); err != nil {
		return fmt.Errorf("onvif: %s: bad response: %w", method, err)
	}
	return nil
}

// capabilitiesError repeats the GetCapabilities that use-go's NewDevice
// makes, to learn why it failed (NewDevice drops the cause).
func capabilitiesError(client *http.Client, cfg Config) error {
	body := `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`
	resp, err := sendSOAP(client, cfg.Addr, body, cfg.User, cfg.Password)
	if err != nil {
		return fmt.Errorf("onvif: %s: GetCapabilities: %w", cfg.Addr, err)
	}
	var out struct{}
	return decodeResponse("GetCapabilities", resp, &out)
}

// withClockHint adds the clock offset to authorization failures: a camera
// whose clock is minutes off rejects correct passwords.
func withClockHint(err error, rep *Report) error {
	if !errors.Is(err, ErrNotAuthorized) {
		return err
	}
	if rep.ClockOffsetKnown && (rep.ClockOffset > 5*time.Second || rep.ClockOffset < -5*time.Second) {
		return fmt.Errorf("%w: check user and password; also, the camera clock is %v off this machine's, which makes cameras reject the password digest (set NTP on the camera)",
			err, rep.ClockOffset.Round(time.Second))
	}
	return fmt.Errorf("%w: check user and password", err)
}

// clockOffset asks GetSystemDateAndTime (unauthenticated) and returns the
// camera's UTC clock minus ours, corrected for half the round trip.
func clockOffset(client *http.Client, addr string) (time.Duration, error) {
	sent := time.Now()
	resp, err := sendSOAP(client, addr, `<tds:GetSystemDateAndTime/>`, "", "")
	if err != nil {
		return 0, err
	}
	got := time.Now()
	var out struct {
		UTC struct {
			Year   int `xml:"Date>Year"`
			Month  int `xml:"Date>Month"`
			Day    int `xml:"Date>Day"`
			Hour   int `xml:"Time>Hour"`
			Minute int `xml:"Time>Minute"`
			Second int `xml:"Time>Second"`
		} `xml:"Body>GetSystemDateAndTimeResponse>SystemDateAndTime>UTCDateTime"`
	}
	if err := decodeResponse("GetSystemDateAndTime", resp, &out); err != nil {
		return 0, err
	}
	u := out.UTC
	if u.Year == 0 {
		return 0, errors.New("onvif: GetSystemDateAndTime: no UTC time in the answer")
	}
	cam := time.Date(u.Year, time.Month(u.Month), u.Day, u.Hour, u.Minute, u.Second, 0, time.UTC)
	mid := sent.Add(got.Sub(sent) / 2)
	// The camera truncates to whole seconds: on average it is half a second
	// behind the instant it answered.
	return cam.Add(500 * time.Millisecond).Sub(mid).Round(100 * time.Millisecond), nil
}

// sendSOAP sends a device-service request with use-go's envelope and, when
// user is set, its WS-Security header.
func sendSOAP(client *http.Client, addr, body, user, pass string) (*http.Response, error) {
	msg := gosoap.NewEmptySOAP()
	msg.AddStringBodyContent(body)
	msg.AddRootNamespaces(goonvif.Xlmns)
	if user != "" && pass != "" {
		msg.AddWSSecurity(user, pass)
	}
	return networking.SendSoap(client, "http://"+addr+"/onvif/device_service", msg.String())
}

// ctxTransport attaches a context to every request, since use-go's calls
// take none.
type ctxTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(r.WithContext(t.ctx))
}
