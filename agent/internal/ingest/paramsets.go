package ingest

import "github.com/vigia-pe/vigia/agent/internal/decode"

// paramSets remembers the latest VPS/SPS/PPS of a stream (from the SDP and
// in-band) and puts them in front of keyframes that lack them: many cameras
// send them only in the SDP, and both the decoder after a reconnect and an
// evidence clip cut at a keyframe need them.
type paramSets struct {
	codec         decode.Codec
	vps, sps, pps []byte
}

// learn records the parameter sets found in an access unit.
func (p *paramSets) learn(nalus [][]byte) {
	for _, n := range nalus {
		switch decode.ParamSetKind(p.codec, n) {
		case 'v':
			p.vps = n
		case 's':
			p.sps = n
		case 'p':
			p.pps = n
		}
	}
}

// complete returns nalus with the missing parameter sets prepended when the
// access unit is a keyframe, else nalus unchanged.
func (p *paramSets) complete(nalus [][]byte, keyframe bool) [][]byte {
	if !keyframe {
		return nalus
	}
	var has [128]bool
	for _, n := range nalus {
		has[decode.ParamSetKind(p.codec, n)] = true
	}
	var pre [][]byte
	if p.codec == decode.H265 && !has['v'] && p.vps != nil {
		pre = append(pre, p.vps)
	}
	if !has['s'] && p.sps != nil {
		pre = append(pre, p.sps)
	}
	if !has['p'] && p.pps != nil {
		pre = append(pre, p.pps)
	}
	if pre == nil {
		return nalus
	}
	return append(pre, nalus...)
}
