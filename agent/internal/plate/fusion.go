package plate

// Fusion combines the reads of one tracked vehicle over several frames.
//
// Only readable reads vote. Reads are grouped by layout (a plate cannot be
// both a car and a motorcycle plate); the group with the largest summed
// confidence wins. Inside it each character position is voted separately,
// each read weighing its confidence, so two frames that each misread a
// different character still fuse into the right plate. The fused confidence
// is the share of the confidence-weighted vote won at the worst position,
// capped by the best single read's confidence (agreement never makes a plate
// more certain than its best sighting). A Fusion is not safe for concurrent
// use.
type Fusion struct {
	k       int
	minConf float32
	reads   []Read
}

// NewFusion returns a Fusion that is done once k readable reads agree with
// the fused text (k < 1 counts as 1); fused results below minConf (0: the
// default 0.7) are unreadable.
func NewFusion(k int, minConf float32) *Fusion {
	if k < 1 {
		k = 1
	}
	if minConf <= 0 {
		minConf = DefaultMinConfidence
	}
	return &Fusion{k: k, minConf: minConf}
}

// Add records one read and reports whether the fusion is done. Unreadable
// reads are ignored.
func (f *Fusion) Add(r Read) bool {
	if r.Readable && r.Text != "" {
		f.reads = append(f.reads, r)
	}
	return f.Done()
}

// Len returns the number of readable reads recorded.
func (f *Fusion) Len() int { return len(f.reads) }

// Done reports whether k readable reads equal the fused text.
func (f *Fusion) Done() bool {
	res, agree := f.fuse()
	return res.Readable && agree >= f.k
}

// Result returns the fused read (not Readable while no read has been
// recorded or when the votes are too split).
func (f *Fusion) Result() Read {
	r, _ := f.fuse()
	return r
}

// fuse returns the fused read and how many reads equal it exactly.
func (f *Fusion) fuse() (Read, int) {
	if len(f.reads) == 0 {
		return Read{}, 0
	}
	// Pick the group: layout name plus length (FormatAny reads of
	// different lengths cannot be voted position by position).
	type key struct {
		layout string
		n      int
	}
	weight := make(map[key]float32)
	var order []key
	for _, r := range f.reads {
		k := key{r.Layout, len(Compact(r.Text))}
		if _, ok := weight[k]; !ok {
			order = append(order, k)
		}
		weight[k] += r.Confidence
	}
	best := order[0]
	for _, k := range order[1:] {
		if weight[k] > weight[best] {
			best = k
		}
	}
	var group []Read
	for _, r := range f.reads {
		if (key{r.Layout, len(Compact(r.Text))}) == best {
			group = append(group, r)
		}
	}
	fused := make([]byte, best.n)
	conf := float32(0)
	for _, r := range group {
		conf = max(conf, r.Confidence)
	}
	for pos := 0; pos < best.n; pos++ {
		var votes [256]float32
		var total float32
		for _, r := range group {
			votes[Compact(r.Text)[pos]] += r.Confidence
			total += r.Confidence
		}
		win := 0
		for c := range votes {
			if votes[c] > votes[win] {
				win = c
			}
		}
		fused[pos] = byte(win)
		conf = min(conf, votes[win]/total)
	}
	// Re-insert the separators of the group's written form.
	tmpl := group[0].Text
	text := make([]byte, 0, len(tmpl))
	j := 0
	for i := 0; i < len(tmpl); i++ {
		if c := tmpl[i]; c == '-' || c == ' ' || c == '.' {
			text = append(text, c)
			continue
		}
		text = append(text, fused[j])
		j++
	}
	out := Read{Text: string(text), Confidence: conf, Layout: best.layout}
	agree := 0
	for _, r := range group {
		if Compact(r.Text) == string(fused) {
			agree++
		}
	}
	out.Readable = conf >= f.minConf
	if !out.Readable {
		out.Text = ""
	}
	return out, agree
}
