package decode

import (
	"bytes"
	"testing"
)

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{0x65, 1, 2}, [][]byte{{0x65, 1, 2}}},
		{"4-byte codes", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2}, [][]byte{{0x67, 1}, {0x68, 2}}},
		{"3-byte codes", []byte{0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2}, [][]byte{{0x67, 1}, {0x68, 2}}},
		{"trailing zero bytes dropped", []byte{0, 0, 1, 0x65, 9, 0, 0, 0, 0, 0, 1, 0x41}, [][]byte{{0x65, 9}, {0x41}}},
		{"empty units dropped", []byte{0, 0, 1, 0, 0, 1, 0x41, 7}, [][]byte{{0x41, 7}}},
		{"leading bytes kept", []byte{0x09, 0xf0, 0, 0, 1, 0x41}, [][]byte{{0x09, 0xf0}, {0x41}}},
		{"only start code", []byte{0, 0, 0, 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SplitAnnexB(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d units %x, want %d %x", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("unit %d = %x, want %x", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestJoinSplitRoundTrip(t *testing.T) {
	units := [][]byte{{0x67, 0x42, 0x00, 0x1e}, {0x68, 0xce}, {0x65, 0x88, 0x84, 0x00, 0x03, 0x01}}
	got := SplitAnnexB(JoinAnnexB(nil, units))
	if len(got) != len(units) {
		t.Fatalf("got %d units, want %d", len(got), len(units))
	}
	for i := range units {
		if !bytes.Equal(got[i], units[i]) {
			t.Errorf("unit %d = %x, want %x", i, got[i], units[i])
		}
	}
}

func TestIsKeyframe(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		nalus [][]byte
		want  bool
	}{
		{"h264 IDR after SPS/PPS", H264, [][]byte{{0x67}, {0x68}, {0x65, 1}}, true},
		{"h264 non-IDR slice", H264, [][]byte{{0x41, 1}}, false},
		{"h264 empty unit ignored", H264, [][]byte{{}, {0x41}}, false},
		{"h265 IDR_W_RADL", H265, [][]byte{{19 << 1, 1}}, true},
		{"h265 CRA", H265, [][]byte{{21 << 1, 1}}, true},
		{"h265 TRAIL_R", H265, [][]byte{{1 << 1, 1}}, false},
		{"h265 SPS only", H265, [][]byte{{33 << 1, 1}}, false},
		{"other codec", Codec("mpeg4"), [][]byte{{0x65}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsKeyframe(tc.codec, tc.nalus); got != tc.want {
				t.Errorf("IsKeyframe = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParamSetKindAndIsSlice(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		nalu  []byte
		kind  byte
		slice bool
	}{
		{"h264 SPS", H264, []byte{0x67}, 's', false},
		{"h264 PPS", H264, []byte{0x68}, 'p', false},
		{"h264 IDR", H264, []byte{0x65}, 0, true},
		{"h264 SEI", H264, []byte{0x06}, 0, false},
		{"h265 VPS", H265, []byte{32 << 1, 1}, 'v', false},
		{"h265 SPS", H265, []byte{33 << 1, 1}, 's', false},
		{"h265 PPS", H265, []byte{34 << 1, 1}, 'p', false},
		{"h265 CRA", H265, []byte{21 << 1, 1}, 0, true},
		{"empty", H264, nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParamSetKind(tc.codec, tc.nalu); got != tc.kind {
				t.Errorf("ParamSetKind = %q, want %q", got, tc.kind)
			}
			if got := IsSlice(tc.codec, tc.nalu); got != tc.slice {
				t.Errorf("IsSlice = %v, want %v", got, tc.slice)
			}
		})
	}
}
