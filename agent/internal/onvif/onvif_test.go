package onvif

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/onvif/onviftest"
)

func fakeCamera() onviftest.Camera {
	return onviftest.Camera{
		User: "admin", Password: "Cam-pass_9",
		Manufacturer: "HIKVISION", Model: "DS-2CD2043G2-I", FirmwareVersion: "V5.7.3 build 220112",
		SerialNumber: "DS-2CD2043G2-I20220101AAWRJ12345678", HwID: "88",
		Profiles: []onviftest.Profile{
			{Token: "Profile_1", Name: "mainStream", Encoding: "H264", Width: 2560, Height: 1440, FPS: 15, BitrateKbps: 4096, GOVLength: 30,
				URI: "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"},
			{Token: "Profile_2", Name: "subStream", Encoding: "H265", Width: 640, Height: 360, FPS: 15, BitrateKbps: 512, GOVLength: 15,
				URI: "rtsp://192.168.1.64:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"},
			{Token: "Profile_3", Name: "metadataOnly"},
		},
	}
}

// TestProbeFakeCamera probes a fake camera that checks the WS-Security
// digest, and checks every field of the report.
func TestProbeFakeCamera(t *testing.T) {
	cam := onviftest.Start(fakeCamera())
	defer cam.Close()
	rep, err := Probe(context.Background(), Config{Addr: cam.Addr(), User: "admin", Password: "Cam-pass_9", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	want := DeviceInfo{Manufacturer: "HIKVISION", Model: "DS-2CD2043G2-I", FirmwareVersion: "V5.7.3 build 220112",
		SerialNumber: "DS-2CD2043G2-I20220101AAWRJ12345678", HardwareID: "88"}
	if rep.Device != want {
		t.Errorf("device %+v, want %+v", rep.Device, want)
	}
	wantProfiles := []Profile{
		{Name: "mainStream", Token: "Profile_1", Encoding: "H264", Width: 2560, Height: 1440, FrameRate: 15, BitrateKbps: 4096, GOVLength: 30,
			StreamURI: "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"},
		{Name: "subStream", Token: "Profile_2", Encoding: "H265", Width: 640, Height: 360, FrameRate: 15, BitrateKbps: 512, GOVLength: 15,
			StreamURI: "rtsp://192.168.1.64:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"},
		{Name: "metadataOnly", Token: "Profile_3"},
	}
	if len(rep.Profiles) != len(wantProfiles) {
		t.Fatalf("%d profiles, want %d: %+v", len(rep.Profiles), len(wantProfiles), rep.Profiles)
	}
	for i, w := range wantProfiles {
		got := rep.Profiles[i]
		errText := got.StreamURIError
		got.StreamURIError = ""
		if got != w {
			t.Errorf("profile %d = %+v, want %+v", i, got, w)
		}
		if (w.StreamURI == "") != (errText != "") {
			t.Errorf("profile %d stream URI error %q", i, errText)
		}
	}
	if !rep.ClockOffsetKnown || rep.ClockOffset > 2*time.Second || rep.ClockOffset < -2*time.Second {
		t.Errorf("clock offset %v (known %v), want about 0", rep.ClockOffset, rep.ClockOffsetKnown)
	}
	if cam.Denied() != 0 || cam.Calls("GetProfiles") != 1 || cam.Calls("GetStreamUri") != 3 {
		t.Errorf("denied %d, GetProfiles %d, GetStreamUri %d", cam.Denied(), cam.Calls("GetProfiles"), cam.Calls("GetStreamUri"))
	}
}

func TestProbeErrors(t *testing.T) {
	skewed := fakeCamera()
	skewed.ClockSkew = -20 * time.Minute
	tests := []struct {
		name     string
		cam      onviftest.Camera
		user     string
		password string
		want     []string
		authErr  bool
	}{
		{"wrong password", fakeCamera(), "admin", "nope", []string{"NotAuthorized", "check user and password"}, true},
		{"unknown user", fakeCamera(), "root", "Cam-pass_9", []string{"NotAuthorized"}, true},
		{"no credentials", fakeCamera(), "", "", []string{"NotAuthorized"}, true},
		// The offset is known to about a second (the camera answers in whole seconds): checked below.
		{"camera clock 20 minutes behind", skewed, "admin", "Cam-pass_9", []string{"NotAuthorized", "camera clock is -"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := onviftest.Start(tc.cam)
			defer cam.Close()
			_, err := Probe(context.Background(), Config{Addr: cam.Addr(), User: tc.user, Password: tc.password, Timeout: 5 * time.Second})
			if err == nil {
				t.Fatal("Probe succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.cam.ClockSkew != 0 {
				m := regexp.MustCompile(`camera clock is (\S+) off`).FindStringSubmatch(err.Error())
				if m == nil {
					t.Fatalf("error %q does not give the clock offset", err)
				}
				off, perr := time.ParseDuration(m[1])
				if d := off - tc.cam.ClockSkew; perr != nil || d > 1500*time.Millisecond || d < -1500*time.Millisecond {
					t.Errorf("reported clock offset %q, want %v within a second and a half", m[1], tc.cam.ClockSkew)
				}
			}
			if got := errors.Is(err, ErrNotAuthorized); got != tc.authErr {
				t.Errorf("errors.Is(ErrNotAuthorized) = %v", got)
			}
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("password in error: %v", err)
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	cam := onviftest.Start(fakeCamera())
	addr := cam.Addr()
	cam.Close()
	_, err := Probe(context.Background(), Config{Addr: addr, User: "admin", Password: "x", Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want it to name %s", err, addr)
	}
}

func TestProbeCancelled(t *testing.T) {
	cam := onviftest.Start(fakeCamera())
	defer cam.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Probe(ctx, Config{Addr: cam.Addr(), User: "admin", Password: "Cam-pass_9"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
