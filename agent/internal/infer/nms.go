package infer

import (
	"cmp"
	"slices"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// candidate is a detection before the cross-view merge.
type candidate struct {
	Detection
	// view is the index of the view the detection came from.
	view int
	// cut is true when the box touches an interior tile edge, so it may be
	// a cut-off part of a vehicle seen whole in another view.
	cut bool
	// drop marks a fragment removed by mergeViews.
	drop bool
}

// nmsGroups says which classes suppress each other: by default each class
// only itself; all puts every class in one group (class-agnostic NMS); g
// maps a class index to a group id (classes a model confuses on one object).
type nmsGroups struct {
	all bool
	g   []int
}

func (n nmsGroups) of(class int) int {
	switch {
	case n.all:
		return 0
	case class >= 0 && class < len(n.g):
		return n.g[class]
	}
	return class
}

func newNMSGroups(m *modelmanifest.Manifest) nmsGroups {
	if m.NMS.ClassAgnostic {
		return nmsGroups{all: true}
	}
	if len(m.NMS.Groups) == 0 {
		return nmsGroups{}
	}
	g := make([]int, len(m.Classes))
	for i := range g {
		g[i] = i
	}
	for _, group := range m.NMS.Groups {
		id := m.ClassIndex(group[0])
		for _, c := range group {
			if i := m.ClassIndex(c); i >= 0 {
				g[i] = id
			}
		}
	}
	return nmsGroups{g: g}
}

// NMS runs greedy non-maximum suppression in place: dets is sorted by
// descending score and compacted; the survivors are returned (a prefix of
// dets, at most maxDet of them when maxDet > 0). Boxes of different classes
// never suppress each other unless agnostic.
func NMS(dets []Detection, iou float32, agnostic bool, maxDet int) []Detection {
	c := make([]candidate, len(dets))
	for i, d := range dets {
		c[i].Detection = d
	}
	c = nmsCandidates(c, iou, nmsGroups{all: agnostic}, maxDet)
	for i := range c {
		dets[i] = c[i].Detection
	}
	return dets[:len(c)]
}

// nmsCandidates is NMS on candidates without allocating: it sorts by score
// (ties broken by position for determinism) and keeps a box unless a kept
// box of the same class group overlaps it by more than iou.
func nmsCandidates(c []candidate, iou float32, groups nmsGroups, maxDet int) []candidate {
	slices.SortFunc(c, func(a, b candidate) int {
		if r := cmp.Compare(b.Score, a.Score); r != 0 {
			return r
		}
		if r := cmp.Compare(a.Box.Y1, b.Box.Y1); r != 0 {
			return r
		}
		return cmp.Compare(a.Box.X1, b.Box.X1)
	})
	kept := 0
	for i := range c {
		if maxDet > 0 && kept == maxDet {
			break
		}
		ok := true
		for k := range kept {
			if groups.of(c[k].Class) == groups.of(c[i].Class) && c[k].Box.IoU(c[i].Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			c[kept] = c[i]
			kept++
		}
	}
	return c[:kept]
}

// containedFraction returns the fraction of a's area that lies inside b.
func containedFraction(a, b Box) float32 {
	area := a.Area()
	if area <= 0 {
		return 0
	}
	inter := Box{max(a.X1, b.X1), max(a.Y1, b.Y1), min(a.X2, b.X2), min(a.Y2, b.Y2)}.Area()
	return inter / area
}

// cutContainment is the fraction of a cut box that must lie inside a
// complete box of another view for the cut box to be dropped as a fragment.
const cutContainment = 0.6

// mergeViews merges the candidates of all views in place: a box cut by an
// interior tile edge is dropped when most of it lies inside an uncut box from
// another view (the same vehicle seen whole), then NMS runs across views.
func mergeViews(c []candidate, iou float32, groups nmsGroups, maxDet int) []candidate {
	for i := range c {
		c[i].drop = c[i].cut && hasWholeCounterpart(c, i)
	}
	n := 0
	for i := range c {
		if !c[i].drop {
			c[n] = c[i]
			n++
		}
	}
	return nmsCandidates(c[:n], iou, groups, maxDet)
}

// hasWholeCounterpart reports whether an uncut candidate from another view
// contains most of candidate i.
func hasWholeCounterpart(c []candidate, i int) bool {
	for j := range c {
		if j == i || c[j].cut || c[j].view == c[i].view {
			continue
		}
		if containedFraction(c[i].Box, c[j].Box) >= cutContainment {
			return true
		}
	}
	return false
}
