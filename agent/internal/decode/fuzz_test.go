package decode

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// FuzzDecode feeds arbitrary bytes, split as an Annex-B stream, to the H.264
// and H.265 decoders: nothing may crash, and any picture must be well formed.
// Seeds in testdata/fuzz/FuzzDecode hold real two-frame streams.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84})
	f.Add([]byte{0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 1, 0x42, 0x01, 0x01, 0, 0, 1, 0x26, 0x01, 0xaf})
	f.Fuzz(func(t *testing.T, data []byte) {
		units := SplitAnnexB(data)
		for _, c := range []Codec{H264, H265} {
			d, err := New(Config{Codec: c, MaxWidth: 16, UndecodablePackets: 1, UndecodableSpan: time.Nanosecond})
			if err != nil {
				t.Fatal(err)
			}
			check := func(fr *frame.Frame) {
				if fr.Width <= 0 || fr.Height <= 0 || fr.Width > 16 || len(fr.BGR) != fr.Stride*fr.Height {
					t.Fatalf("%s: malformed frame %dx%d stride %d len %d", c, fr.Width, fr.Height, fr.Stride, len(fr.BGR))
				}
			}
			for i, u := range units {
				err := d.Decode(AccessUnit{NALUs: [][]byte{u}, PTS: time.Duration(i) * 40 * time.Millisecond}, check)
				if err != nil && !errors.Is(err, ErrUndecodable) {
					t.Fatalf("%s: %v", c, err)
				}
			}
			if err := d.Flush(check); err != nil && !errors.Is(err, ErrUndecodable) {
				t.Fatalf("%s flush: %v", c, err)
			}
			if st := d.Stats(); st.Packets != int64(len(units)) {
				t.Fatalf("%s: %d packets counted, %d fed", c, st.Packets, len(units))
			}
			d.Close()
		}
	})
}

// FuzzDemux writes arbitrary bytes to a file and reads it: errors are fine,
// crashes and hangs are not.
func FuzzDemux(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08free"))
	f.Add([]byte("\x1aE\xdf\xa3\x9fB\x86\x81\x01"))
	f.Add([]byte("G@\x11\x10\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dm, err := OpenFile(p)
		if err != nil {
			return
		}
		defer dm.Close()
		for range 10000 {
			pkt, err := dm.Read()
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			for _, n := range pkt.NALUs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit")
				}
			}
		}
	})
}
