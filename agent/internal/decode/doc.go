// Package decode turns compressed video into frame.Frame pictures with
// FFmpeg's libavcodec and libswscale (through cgo), and reads video files
// with libavformat.
//
// A Decoder takes access units (H.264 or H.265 NAL units, as they arrive from
// RTSP or from a file after conversion to Annex-B) with their presentation
// time, and emits packed BGR24 frames, optionally downscaled in the same
// swscale pass. Frame buffers come from a FramePool so that a steady stream
// allocates nothing per frame once warm.
//
// The Decoder also watches its own health: a stream that keeps delivering
// packets but yields no clean picture for a configured number of packets and
// span of stream time is reported as undecodable (*UndecodableError). The
// usual cause in the field is EZVIZ/Hikvision "image encryption", which a
// firmware update may switch on: the NAL headers stay readable but the slice
// payloads are encrypted.
//
// FFmpeg's own log output is lowered to fatal messages only (a process-wide
// libav setting), because corrupt input makes it print per-macroblock errors;
// the Decoder counts and reports those errors itself.
package decode
