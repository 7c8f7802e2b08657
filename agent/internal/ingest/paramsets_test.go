package ingest

import (
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/decode"
)

func TestParamSetsComplete(t *testing.T) {
	sps, pps, idr, p := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	vps, hsps, hpps, cra := []byte{32 << 1, 1}, []byte{33 << 1, 1}, []byte{34 << 1, 1}, []byte{21 << 1, 1}
	tests := []struct {
		name    string
		codec   decode.Codec
		known   [][]byte
		in      [][]byte
		key     bool
		wantLen int
	}{
		{"h264 keyframe gets SPS and PPS", decode.H264, [][]byte{sps, pps}, [][]byte{idr}, true, 3},
		{"h264 keyframe already complete", decode.H264, [][]byte{sps, pps}, [][]byte{sps, pps, idr}, true, 3},
		{"h264 keyframe missing PPS only", decode.H264, [][]byte{sps, pps}, [][]byte{sps, idr}, true, 3},
		{"h264 non-keyframe untouched", decode.H264, [][]byte{sps, pps}, [][]byte{p}, false, 1},
		{"nothing known yet", decode.H264, nil, [][]byte{idr}, true, 1},
		{"h265 keyframe gets VPS SPS PPS", decode.H265, [][]byte{vps, hsps, hpps}, [][]byte{cra}, true, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := paramSets{codec: tc.codec}
			ps.learn(tc.known)
			got := ps.complete(tc.in, tc.key)
			if len(got) != tc.wantLen {
				t.Fatalf("got %d NAL units, want %d", len(got), tc.wantLen)
			}
			if last := got[len(got)-1]; &last[0] != &tc.in[len(tc.in)-1][0] {
				t.Error("the picture must stay last")
			}
		})
	}
}
