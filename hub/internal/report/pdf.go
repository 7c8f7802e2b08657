package report

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/go-pdf/fpdf"
)

// Page geometry (A4 portrait, millimetres).
const (
	pageMargin = 15.0
	pageWidth  = 210.0 - 2*pageMargin
)

// typeColors are the bar colours of each type (RGB).
var typeColors = map[string][3]int{
	"SPEED_VIOLATION": {214, 69, 65},
	"LANE_INVASION":   {242, 156, 17},
	"RED_LIGHT":       {142, 68, 173},
	"OTHER":           {127, 140, 141},
}

// WritePDF renders the report as a PDF: header, totals table, a bar chart
// by hour, a bar chart by type and the top violators table. The charts are
// drawn with fpdf primitives (rectangles, lines, text). Text goes through
// the cp1252 translator of the core fonts, which covers Spanish.
func WritePDF(w io.Writer, rep *Daily, lang Lang) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetMargins(pageMargin, pageMargin, pageMargin)
	pdf.SetAutoPageBreak(true, pageMargin)
	pdf.SetCreationDate(rep.GeneratedAt)
	pdf.SetModificationDate(rep.GeneratedAt)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetTitle(lang.t(lTitle)+" "+rep.Date, true)
	pdf.SetCreator("Vigía hub", true)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.SetTextColor(110, 110, 110)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("%s %d - Vigía", lang.t(lPage), pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()

	// Header.
	pdf.SetTextColor(20, 20, 20)
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 9, tr(lang.t(lTitle)), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, kv := range [][2]string{
		{lang.t(lDate), rep.Date},
		{lang.t(lZone), rep.zoneLabel(lang)},
		{lang.t(lTimeZone), rep.TimeZone},
		{lang.t(lGenerated), rep.GeneratedAt.Format("2006-01-02 15:04:05 UTC")},
	} {
		pdf.CellFormat(0, 5.5, tr(kv[0]+": "+kv[1]), "", 1, "L", false, 0, "")
	}
	pdf.Ln(3)

	// Totals.
	section(pdf, tr(lang.t(lTotals)))
	pdf.SetFont("Helvetica", "B", 10)
	pdf.SetFillColor(230, 233, 237)
	pdf.CellFormat(110, 7, tr(lang.t(lType)), "1", 0, "L", true, 0, "")
	pdf.CellFormat(40, 7, tr(lang.t(lCount)), "1", 1, "R", true, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, t := range Types {
		pdf.CellFormat(110, 6.5, tr(lang.typeName(t)), "1", 0, "L", false, 0, "")
		pdf.CellFormat(40, 6.5, strconv.FormatInt(rep.ByType[t], 10), "1", 1, "R", false, 0, "")
	}
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(110, 7, tr(lang.t(lTotal)), "1", 0, "L", true, 0, "")
	pdf.CellFormat(40, 7, strconv.FormatInt(rep.TotalInfractions, 10), "1", 1, "R", true, 0, "")
	pdf.Ln(2)
	pdf.SetFont("Helvetica", "", 10)
	avg := lang.t(lNone)
	if rep.AverageSpeedViolation != nil {
		avg = strconv.FormatFloat(*rep.AverageSpeedViolation, 'f', 1, 64)
	}
	pdf.CellFormat(0, 5.5, tr(fmt.Sprintf("%s: %d", lang.t(lTotalLine), rep.TotalInfractions)), "", 1, "L", false, 0, "")
	pdf.CellFormat(0, 5.5, tr(lang.t(lAvgSpeed)+": "+avg), "", 1, "L", false, 0, "")
	pdf.CellFormat(0, 5.5, tr(fmt.Sprintf("%s: %d", lang.t(lRejected), rep.RejectedCount)), "", 1, "L", false, 0, "")
	pdf.Ln(3)

	// Charts.
	section(pdf, tr(lang.t(lByHour)))
	hourChart(pdf, rep, lang, tr)
	pdf.Ln(4)
	section(pdf, tr(lang.t(lByType)))
	typeChart(pdf, rep, lang, tr)
	pdf.Ln(4)

	// Top violators.
	need := 14 + 6.5*float64(max(1, len(rep.TopViolators)))
	if pdf.GetY()+need > 297-pageMargin-5 {
		pdf.AddPage()
	}
	section(pdf, tr(lang.t(lTop)))
	if len(rep.TopViolators) == 0 {
		pdf.SetFont("Helvetica", "I", 10)
		pdf.CellFormat(0, 6, tr(lang.t(lNoViolators)), "", 1, "L", false, 0, "")
	} else {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.SetFillColor(230, 233, 237)
		pdf.CellFormat(20, 7, tr(lang.t(lRank)), "1", 0, "C", true, 0, "")
		pdf.CellFormat(90, 7, tr(lang.t(lPlate)), "1", 0, "L", true, 0, "")
		pdf.CellFormat(40, 7, tr(lang.t(lCount)), "1", 1, "R", true, 0, "")
		pdf.SetFont("Helvetica", "", 10)
		for i, v := range rep.TopViolators {
			pdf.CellFormat(20, 6.5, strconv.Itoa(i+1), "1", 0, "C", false, 0, "")
			pdf.CellFormat(90, 6.5, tr(v.Plate), "1", 0, "L", false, 0, "")
			pdf.CellFormat(40, 6.5, strconv.FormatInt(v.Count, 10), "1", 1, "R", false, 0, "")
		}
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	return nil
}

func section(pdf *fpdf.Fpdf, title string) {
	pdf.SetFont("Helvetica", "B", 12)
	pdf.SetTextColor(20, 20, 20)
	pdf.CellFormat(0, 8, title, "", 1, "L", false, 0, "")
}

// niceCeil returns a round axis maximum >= v (1, 2, 5 × 10^k) and its tick step.
func niceCeil(v int64) (top float64, step float64) {
	if v <= 0 {
		return 1, 1
	}
	f := float64(v)
	mag := math.Pow(10, math.Floor(math.Log10(f)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= f {
			top = m * mag
			break
		}
	}
	step = top / 5
	if step < 1 {
		step = 1
	}
	return top, step
}

// hourChart draws 24 vertical bars with a y axis, grid and hour labels.
func hourChart(pdf *fpdf.Fpdf, rep *Daily, lang Lang, tr func(string) string) {
	const h = 55.0
	if pdf.GetY()+h+14 > 297-pageMargin-5 {
		pdf.AddPage()
	}
	x0, y0 := pageMargin+12, pdf.GetY()+2
	w := pageWidth - 14
	var peak int64
	for _, b := range rep.ByHour {
		peak = max(peak, b.Count)
	}
	top, step := niceCeil(peak)
	pdf.SetFont("Helvetica", "", 7)
	pdf.SetDrawColor(210, 210, 210)
	pdf.SetLineWidth(0.1)
	pdf.SetTextColor(90, 90, 90)
	for v := 0.0; v <= top+1e-9; v += step {
		y := y0 + h - v/top*h
		pdf.Line(x0, y, x0+w, y)
		pdf.SetXY(x0-12, y-2)
		pdf.CellFormat(10, 4, strconv.FormatFloat(v, 'f', 0, 64), "", 0, "R", false, 0, "")
	}
	pdf.SetDrawColor(60, 60, 60)
	pdf.SetLineWidth(0.3)
	pdf.Line(x0, y0, x0, y0+h)
	pdf.Line(x0, y0+h, x0+w, y0+h)
	slot := w / 24
	pdf.SetFillColor(41, 128, 185)
	for _, b := range rep.ByHour {
		bx := x0 + float64(b.Hour)*slot
		if b.Count > 0 {
			bh := float64(b.Count) / top * h
			pdf.Rect(bx+slot*0.15, y0+h-bh, slot*0.7, bh, "F")
			pdf.SetTextColor(20, 20, 20)
			pdf.SetXY(bx, y0+h-bh-4)
			pdf.CellFormat(slot, 4, strconv.FormatInt(b.Count, 10), "", 0, "C", false, 0, "")
		}
		pdf.SetTextColor(90, 90, 90)
		pdf.SetXY(bx, y0+h+0.5)
		pdf.CellFormat(slot, 4, fmt.Sprintf("%02d", b.Hour), "", 0, "C", false, 0, "")
	}
	pdf.SetXY(x0, y0+h+4.5)
	pdf.CellFormat(w, 4, tr(lang.t(lHour)+" ("+rep.TimeZone+")"), "", 1, "C", false, 0, "")
	pdf.SetTextColor(20, 20, 20)
}

// typeChart draws one horizontal bar per type, coloured, with its count.
func typeChart(pdf *fpdf.Fpdf, rep *Daily, lang Lang, tr func(string) string) {
	const barH, gap = 7.0, 3.0
	if pdf.GetY()+float64(len(Types))*(barH+gap)+4 > 297-pageMargin-5 {
		pdf.AddPage()
	}
	labelW := 45.0
	x0, y := pageMargin+labelW, pdf.GetY()+1
	w := pageWidth - labelW - 20
	var peak int64
	for _, t := range Types {
		peak = max(peak, rep.ByType[t])
	}
	top, _ := niceCeil(peak)
	pdf.SetDrawColor(60, 60, 60)
	pdf.SetLineWidth(0.3)
	pdf.Line(x0, y-1, x0, y+float64(len(Types))*(barH+gap)-gap+1)
	pdf.SetFont("Helvetica", "", 9)
	for _, t := range Types {
		n := rep.ByType[t]
		pdf.SetTextColor(20, 20, 20)
		pdf.SetXY(pageMargin, y)
		pdf.CellFormat(labelW-2, barH, tr(lang.typeName(t)), "", 0, "R", false, 0, "")
		bw := float64(n) / top * w
		if n > 0 {
			c := typeColors[t]
			pdf.SetFillColor(c[0], c[1], c[2])
			pdf.Rect(x0, y, bw, barH, "F")
		}
		pdf.SetXY(x0+bw+1.5, y)
		pdf.CellFormat(18, barH, strconv.FormatInt(n, 10), "", 0, "L", false, 0, "")
		y += barH + gap
	}
	pdf.SetY(y)
}
