package decode

import "bytes"

// Codec names a video codec by its libavcodec decoder name.
type Codec string

// Codecs the agent receives from cameras. Files may carry any codec that
// libavcodec decodes (e.g. "mpeg4"); Demuxer reports it by the same naming.
const (
	H264 Codec = "h264"
	H265 Codec = "hevc"
)

// String returns a human name for the codec.
func (c Codec) String() string {
	switch c {
	case H264:
		return "H.264"
	case H265:
		return "H.265"
	case "":
		return "unknown"
	}
	return string(c)
}

// HasNALUs reports whether the codec's bitstream is made of NAL units
// (H.264, H.265), which the Decoder joins with Annex-B start codes.
func (c Codec) HasNALUs() bool { return c == H264 || c == H265 }

// NALU types used to classify access units.
const (
	h264NALUTypeIDR = 5
	h264NALUTypeSPS = 7
	h264NALUTypePPS = 8

	h265NALUTypeBLAWLP = 16 // first IRAP type (BLA_W_LP)
	h265NALUTypeRSV23  = 23 // last IRAP type (RSV_IRAP_VCL23)
	h265NALUTypeVPS    = 32
	h265NALUTypeSPS    = 33
	h265NALUTypePPS    = 34
)

// IsKeyframe reports whether an access unit starts a decodable sequence:
// an IDR picture for H.264, an IRAP picture (IDR, CRA, BLA) for H.265.
// Empty NAL units are ignored. For other codecs it returns false.
func IsKeyframe(c Codec, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch c {
		case H264:
			if n[0]&0x1f == h264NALUTypeIDR {
				return true
			}
		case H265:
			if t := (n[0] >> 1) & 0x3f; t >= h265NALUTypeBLAWLP && t <= h265NALUTypeRSV23 {
				return true
			}
		}
	}
	return false
}

// ParamSetKind classifies a NAL unit as a parameter set: 'v' (VPS), 's' (SPS),
// 'p' (PPS), or 0 when it is none of them.
func ParamSetKind(c Codec, nalu []byte) byte {
	if len(nalu) == 0 {
		return 0
	}
	switch c {
	case H264:
		switch nalu[0] & 0x1f {
		case h264NALUTypeSPS:
			return 's'
		case h264NALUTypePPS:
			return 'p'
		}
	case H265:
		switch (nalu[0] >> 1) & 0x3f {
		case h265NALUTypeVPS:
			return 'v'
		case h265NALUTypeSPS:
			return 's'
		case h265NALUTypePPS:
			return 'p'
		}
	}
	return 0
}

// IsSlice reports whether a NAL unit carries coded picture data (a VCL NAL
// unit): H.264 types 1-5, H.265 types 0-31.
func IsSlice(c Codec, nalu []byte) bool {
	if len(nalu) == 0 {
		return false
	}
	switch c {
	case H264:
		t := nalu[0] & 0x1f
		return t >= 1 && t <= 5
	case H265:
		return (nalu[0]>>1)&0x3f < 32
	}
	return false
}

var startCode3 = []byte{0, 0, 1}

// SplitAnnexB splits an Annex-B byte stream into its NAL units (without start
// codes). Bytes before the first start code, if any, form the first unit, and
// empty units are dropped. The returned slices alias b.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	pos := 0
	for pos < len(b) {
		i := bytes.Index(b[pos:], startCode3)
		if i < 0 {
			out = appendNALU(out, b[pos:])
			break
		}
		end := pos + i
		// A 4-byte start code (and trailing_zero_8bits) ends with the zeros
		// that precede 00 00 01: they belong to no NAL unit.
		for end > pos && b[end-1] == 0 {
			end--
		}
		out = appendNALU(out, b[pos:end])
		pos += i + 3
	}
	return out
}

func appendNALU(out [][]byte, n []byte) [][]byte {
	if len(n) == 0 {
		return out
	}
	return append(out, n)
}

// JoinAnnexB appends the NAL units to dst, each preceded by a 4-byte start
// code, and returns the extended slice.
func JoinAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
