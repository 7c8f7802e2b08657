// Package onviftest is a fake ONVIF camera for tests: an HTTP server that
// speaks the device and media services' SOAP (GetSystemDateAndTime,
// GetCapabilities, GetDeviceInformation, GetProfiles, GetStreamUri) and
// checks WS-Security UsernameToken digests as cameras do, including the
// freshness of "Created" and nonce replay. It exists because no physical
// camera is reachable from the test machines.
package onviftest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Profile is a media profile the fake camera reports.
type Profile struct {
	Token, Name   string
	Encoding      string // H264, H265, JPEG
	Width, Height int
	FPS           int
	BitrateKbps   int
	GOVLength     int
	// URI is returned by GetStreamUri; empty makes GetStreamUri fail with
	// a fault, as for a profile without a stream.
	URI string
}

// Camera is the fake device's identity and settings.
type Camera struct {
	User, Password                                           string
	Manufacturer, Model, FirmwareVersion, SerialNumber, HwID string
	Profiles                                                 []Profile
	// ClockSkew shifts the camera's clock from this machine's.
	ClockSkew time.Duration
	// MaxCreatedAge is how old (or how far ahead) a token's Created may be
	// against the camera's clock (default 5 minutes).
	MaxCreatedAge time.Duration
}

// Server is a running fake camera.
type Server struct {
	*httptest.Server
	cam Camera

	mu     sync.Mutex
	nonces map[string]bool
	calls  map[string]int
	denied int
}

// Start runs a fake camera on a loopback port; Close it when done.
func Start(cam Camera) *Server {
	if cam.MaxCreatedAge == 0 {
		cam.MaxCreatedAge = 5 * time.Minute
	}
	s := &Server{cam: cam, nonces: map[string]bool{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// Addr returns the camera's host:port.
func (s *Server) Addr() string { return strings.TrimPrefix(s.URL, "http://") }

// Calls returns how many times a method was called (authorized or not).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Denied returns the number of requests rejected as not authorized.
func (s *Server) Denied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.denied
}

// request is the part of an incoming envelope the fake looks at.
type request struct {
	Token struct {
		Username string `xml:"Username"`
		Password struct {
			Type  string `xml:"Type,attr"`
			Value string `xml:",chardata"`
		} `xml:"Password"`
		Nonce   string `xml:"Nonce"`
		Created string `xml:"Created"`
	} `xml:"Header>Security>UsernameToken"`
	Body struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req request
	if err := xml.Unmarshal(raw, &req); err != nil {
		s.fault(w, http.StatusBadRequest, "env:Sender", "ter:WellFormed", "bad XML: "+err.Error())
		return
	}
	method, args := firstElement(req.Body.Inner)
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	if method != "GetSystemDateAndTime" {
		if reason := s.authorize(req); reason != "" {
			s.mu.Lock()
			s.denied++
			s.mu.Unlock()
			s.fault(w, http.StatusBadRequest, "env:Sender", "ter:NotAuthorized", "Sender not Authorized: "+reason)
			return
		}
	}
	host := r.Host
	switch r.URL.Path {
	case "/onvif/device_service":
		switch method {
		case "GetSystemDateAndTime":
			s.reply(w, s.dateTime())
			return
		case "GetCapabilities":
			s.reply(w, `<tds:GetCapabilitiesResponse><tds:Capabilities>`+
				`<tt:Device><tt:XAddr>http://`+host+`/onvif/device_service</tt:XAddr></tt:Device>`+
				`<tt:Media><tt:XAddr>http://`+host+`/onvif/Media</tt:XAddr>`+
				`<tt:StreamingCapabilities><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`+
				`</tds:Capabilities></tds:GetCapabilitiesResponse>`)
			return
		case "GetDeviceInformation":
			c := s.cam
			s.reply(w, `<tds:GetDeviceInformationResponse>`+
				el("tds:Manufacturer", c.Manufacturer)+el("tds:Model", c.Model)+
				el("tds:FirmwareVersion", c.FirmwareVersion)+el("tds:SerialNumber", c.SerialNumber)+
				el("tds:HardwareId", c.HwID)+`</tds:GetDeviceInformationResponse>`)
			return
		}
	case "/onvif/Media":
		switch method {
		case "GetProfiles":
			s.reply(w, s.profiles())
			return
		case "GetStreamUri":
			var a struct {
				Token    string `xml:"ProfileToken"`
				Protocol string `xml:"StreamSetup>Transport>Protocol"`
			}
			_ = xml.Unmarshal(args, &a)
			for _, p := range s.cam.Profiles {
				if p.Token == a.Token && p.URI != "" && a.Protocol == "RTSP" {
					s.reply(w, `<trt:GetStreamUriResponse><trt:MediaUri>`+el("tt:Uri", p.URI)+
						`<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>`+
						`<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`)
					return
				}
			}
			s.fault(w, http.StatusBadRequest, "env:Sender", "ter:InvalidArgVal", "no stream for profile "+a.Token+" over "+a.Protocol)
			return
		}
	}
	s.fault(w, http.StatusBadRequest, "env:Receiver", "ter:ActionNotSupported", method+" not supported at "+r.URL.Path)
}

// authorize checks a UsernameToken digest: Base64(SHA1(nonce + created +
// password)), with the nonce Base64-decoded (WS-Security UsernameToken
// Profile 1.0), Created fresh, and the nonce not seen before.
func (s *Server) authorize(req request) string {
	tok := req.Token
	if tok.Username == "" {
		return "no UsernameToken"
	}
	if tok.Username != s.cam.User {
		return "unknown user"
	}
	if !strings.HasSuffix(tok.Password.Type, "#PasswordDigest") {
		return "password digest required"
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok.Nonce))
	if err != nil || len(nonce) == 0 {
		return "bad nonce"
	}
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(tok.Created))
	if err != nil {
		return "bad Created"
	}
	if age := s.now().Sub(created); age > s.cam.MaxCreatedAge || age < -s.cam.MaxCreatedAge {
		return "stale Created"
	}
	sum := sha1.Sum([]byte(string(nonce) + strings.TrimSpace(tok.Created) + s.cam.Password))
	if base64.StdEncoding.EncodeToString(sum[:]) != strings.TrimSpace(tok.Password.Value) {
		return "wrong digest"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonces[tok.Nonce] {
		return "nonce replayed"
	}
	s.nonces[tok.Nonce] = true
	return ""
}

func (s *Server) now() time.Time { return time.Now().Add(s.cam.ClockSkew) }

func (s *Server) dateTime() string {
	t := s.now().UTC()
	return fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>`+
		`<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>`+
		`<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
		`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>`+
		`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
		t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
}

func (s *Server) profiles() string {
	var b strings.Builder
	b.WriteString(`<trt:GetProfilesResponse>`)
	for _, p := range s.cam.Profiles {
		fmt.Fprintf(&b, `<trt:Profiles fixed="true" token="%s">%s`, xmlEscape(p.Token), el("tt:Name", p.Name))
		b.WriteString(`<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name>` +
			`<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>` +
			`<tt:Bounds x="0" y="0" width="2560" height="1440"></tt:Bounds></tt:VideoSourceConfiguration>`)
		if p.Encoding != "" {
			codec := "H264"
			if p.Encoding == "H265" {
				codec = "H265"
			}
			fmt.Fprintf(&b, `<tt:VideoEncoderConfiguration token="VE_%s"><tt:Name>VideoEncoder_%s</tt:Name><tt:UseCount>1</tt:UseCount>`+
				`%s<tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution><tt:Quality>3.000000</tt:Quality>`+
				`<tt:RateControl><tt:FrameRateLimit>%d</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>`+
				`<tt:BitrateLimit>%d</tt:BitrateLimit></tt:RateControl>`+
				`<tt:%s><tt:GovLength>%d</tt:GovLength><tt:%sProfile>Main</tt:%sProfile></tt:%s>`+
				`<tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>`,
				xmlEscape(p.Token), xmlEscape(p.Token), el("tt:Encoding", p.Encoding), p.Width, p.Height,
				p.FPS, p.BitrateKbps, codec, p.GOVLength, codec, codec, codec)
		}
		b.WriteString(`</trt:Profiles>`)
	}
	b.WriteString(`</trt:GetProfilesResponse>`)
	return b.String()
}

const envelopeHead = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" ` +
	`xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ` +
	`xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:ter="http://www.onvif.org/ver10/error">`

func (s *Server) reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	io.WriteString(w, envelopeHead+`<env:Header/><env:Body>`+body+`</env:Body></env:Envelope>`)
}

func (s *Server) fault(w http.ResponseWriter, status int, code, subcode, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, envelopeHead+`<env:Body><env:Fault><env:Code><env:Value>`+code+`</env:Value>`+
		`<env:Subcode><env:Value>`+subcode+`</env:Value></env:Subcode></env:Code>`+
		`<env:Reason><env:Text xml:lang="en">`+xmlEscape(reason)+`</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`)
}

// firstElement returns the local name and the raw XML of the first element
// in a SOAP body.
func firstElement(inner []byte) (string, []byte) {
	dec := xml.NewDecoder(strings.NewReader(string(inner)))
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			if err := dec.Skip(); err != nil {
				return se.Name.Local, nil
			}
			return se.Name.Local, inner[off:dec.InputOffset()]
		}
	}
}

func el(name, text string) string { return "<" + name + ">" + xmlEscape(text) + "</" + name + ">" }

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
