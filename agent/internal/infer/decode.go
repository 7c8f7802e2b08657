package infer

import (
	"fmt"
	"math"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// decoder turns the raw outputs of one batch item into candidates in model
// input pixels.
type decoder interface {
	// decode appends the candidates of batch item b to dst. outs holds the
	// full output tensors in manifest order.
	decode(outs [][]float32, b int, k *keepSet, dst []candidate) []candidate
	// outputShapes returns the expected shape of each output for a batch size.
	outputShapes(batch int) [][]int64
}

// keepSet is the classes reported and their score thresholds.
type keepSet struct {
	// classes are the kept class indices; thr their thresholds.
	classes []int
	thr     []float32
	// min is the lowest threshold (a cheap first filter).
	min float32
	// labels are all class names, by index.
	labels []string
}

func newKeepSet(m *modelmanifest.Manifest) *keepSet {
	k := &keepSet{labels: m.Classes, min: 1}
	for _, kc := range m.Keep {
		k.classes = append(k.classes, m.ClassIndex(kc.Class))
		k.thr = append(k.thr, kc.Score)
		k.min = min(k.min, kc.Score)
	}
	return k
}

// best returns the kept class with the highest score scale*scores[c] that
// passes its threshold, or -1.
func (k *keepSet) best(scores []float32, scale float32) (class int, score float32) {
	class = -1
	for i, c := range k.classes {
		s := scale * scores[c]
		if s >= k.thr[i] && s > score {
			class, score = c, s
		}
	}
	return class, score
}

func newDecoder(m *modelmanifest.Manifest) (decoder, error) {
	w, h := m.InputSize()
	switch m.Decoder.Kind {
	case modelmanifest.DecoderYOLOX:
		return newYOLOXDecoder(w, h, m.Decoder.Strides, len(m.Classes)), nil
	case modelmanifest.DecoderNanoDet:
		return newNanoDetDecoder(w, h, m)
	}
	return nil, fmt.Errorf("infer: unknown decoder kind %q", m.Decoder.Kind)
}

// anchor is one grid cell of a feature map.
type anchor struct {
	gx, gy, stride float32
}

func gridAnchors(inW, inH int, strides []int) []anchor {
	var a []anchor
	for _, s := range strides {
		for gy := range inH / s {
			for gx := range inW / s {
				a = append(a, anchor{float32(gx), float32(gy), float32(s)})
			}
		}
	}
	return a
}

// yoloxDecoder decodes YOLOX's single output [N, anchors, 5+classes]:
// cx = (p0+gx)*s, cy = (p1+gy)*s, w = exp(p2)*s, h = exp(p3)*s,
// score = objectness (p4) * class score, both already sigmoid.
type yoloxDecoder struct {
	anchors []anchor
	nc      int
}

func newYOLOXDecoder(inW, inH int, strides []int, nc int) *yoloxDecoder {
	return &yoloxDecoder{anchors: gridAnchors(inW, inH, strides), nc: nc}
}

func (d *yoloxDecoder) outputShapes(batch int) [][]int64 {
	return [][]int64{{int64(batch), int64(len(d.anchors)), int64(5 + d.nc)}}
}

func (d *yoloxDecoder) decode(outs [][]float32, b int, k *keepSet, dst []candidate) []candidate {
	row := 5 + d.nc
	item := len(d.anchors) * row
	out := outs[0][b*item : (b+1)*item]
	for i, a := range d.anchors {
		p := out[i*row : (i+1)*row : (i+1)*row]
		obj := p[4]
		if obj < k.min {
			continue
		}
		class, score := k.best(p[5:], obj)
		if class < 0 {
			continue
		}
		cx, cy := (p[0]+a.gx)*a.stride, (p[1]+a.gy)*a.stride
		hw := float32(math.Exp(float64(p[2]))) * a.stride / 2
		hh := float32(math.Exp(float64(p[3]))) * a.stride / 2
		dst = append(dst, candidate{Detection: Detection{
			Box:   Box{cx - hw, cy - hh, cx + hw, cy + hh},
			Score: score, Class: class, Label: k.labels[class],
		}})
	}
	return dst
}

// nanoDetDecoder decodes NanoDet-Plus: per stride, sigmoid class scores
// [N, A, classes] and box distributions [N, A, 4*(regMax+1)] (left, top,
// right, bottom; softmax over bins, expectation times stride) measured from
// the anchor centre (gx*s + (s-1)/2, gy*s + (s-1)/2), as in the OpenCV Zoo
// demo the model was verified with.
type nanoDetDecoder struct {
	inW, inH float32
	nc       int
	bins     int
	levels   []nanoDetLevel
}

type nanoDetLevel struct {
	stride        int
	gw, gh        int
	scores, boxes int // output indices
}

func newNanoDetDecoder(inW, inH int, m *modelmanifest.Manifest) (*nanoDetDecoder, error) {
	d := &nanoDetDecoder{inW: float32(inW), inH: float32(inH), nc: len(m.Classes), bins: m.Decoder.RegMax + 1}
	for _, s := range m.Decoder.Strides {
		l := nanoDetLevel{stride: s, gw: inW / s, gh: inH / s, scores: -1, boxes: -1}
		for i, o := range m.Outputs {
			if o.Stride != s {
				continue
			}
			switch o.Role {
			case modelmanifest.RoleScores:
				l.scores = i
			case modelmanifest.RoleBoxes:
				l.boxes = i
			}
		}
		if l.scores < 0 || l.boxes < 0 {
			return nil, fmt.Errorf("infer: nanodet stride %d lacks a scores or boxes output", s)
		}
		d.levels = append(d.levels, l)
	}
	return d, nil
}

func (d *nanoDetDecoder) outputShapes(batch int) [][]int64 {
	shapes := make([][]int64, 2*len(d.levels))
	for _, l := range d.levels {
		a := int64(l.gw * l.gh)
		shapes[l.scores] = []int64{int64(batch), a, int64(d.nc)}
		shapes[l.boxes] = []int64{int64(batch), a, int64(4 * d.bins)}
	}
	return shapes
}

func (d *nanoDetDecoder) decode(outs [][]float32, b int, k *keepSet, dst []candidate) []candidate {
	for _, l := range d.levels {
		n := l.gw * l.gh
		scores := outs[l.scores][b*n*d.nc : (b+1)*n*d.nc]
		boxes := outs[l.boxes][b*n*4*d.bins : (b+1)*n*4*d.bins]
		s := float32(l.stride)
		for i := range n {
			class, score := k.best(scores[i*d.nc:(i+1)*d.nc], 1)
			if class < 0 {
				continue
			}
			cx := float32(i%l.gw)*s + 0.5*(s-1)
			cy := float32(i/l.gw)*s + 0.5*(s-1)
			dist := boxes[i*4*d.bins : (i+1)*4*d.bins]
			left := dflExpectation(dist[0:d.bins]) * s
			top := dflExpectation(dist[d.bins:2*d.bins]) * s
			right := dflExpectation(dist[2*d.bins:3*d.bins]) * s
			bottom := dflExpectation(dist[3*d.bins:]) * s
			dst = append(dst, candidate{Detection: Detection{
				Box: Box{
					X1: max(cx-left, 0), Y1: max(cy-top, 0),
					X2: min(cx+right, d.inW), Y2: min(cy+bottom, d.inH),
				},
				Score: score, Class: class, Label: k.labels[class],
			}})
		}
	}
	return dst
}

// dflExpectation returns sum_i i*softmax(logits)_i (distribution focal loss).
func dflExpectation(logits []float32) float32 {
	m := logits[0]
	for _, v := range logits[1:] {
		m = max(m, v)
	}
	var sum, acc float32
	for i, v := range logits {
		e := float32(math.Exp(float64(v - m)))
		sum += e
		acc += e * float32(i)
	}
	return acc / sum
}
