package report

import (
	"archive/zip"
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/xuri/excelize/v2"
)

func fixtureReport(t *testing.T) *Daily {
	t.Helper()
	store := openStore(t)
	seedDB(t, store.Pool, fixture)
	rep, err := newService(t, store.Pool).Compute(context.Background(), Query{Day: time.Date(2026, 11, 1, 0, 0, 0, 0, lima), ZoneID: "ZN001"}, true)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// countNear counts the pixels of img within tol of colour c in every channel.
func countNear(img image.Image, c [3]int, tol int) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-c[0]) <= tol && abs(int(g>>8)-c[1]) <= tol && abs(int(bl>>8)-c[2]) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestPDFOpensInPoppler(t *testing.T) {
	pdftoppm := testenv.RequireTool(t, "pdftoppm")
	pdftotext := testenv.RequireTool(t, "pdftotext")
	rep := fixtureReport(t)
	tests := []struct {
		lang Lang
		want []string
	}{
		{ES, []string{"Reporte diario de infracciones", "Fecha: 2026-11-01", "Av. Javier Prado - San Isidro (ZN001)",
			"Total de infracciones: 6", "Exceso de velocidad", "Invasión de carril", "Principales reincidentes", "ABC-123", "XYZ-987",
			"Velocidad promedio de los excesos (km/h): 80.5", "Rechazadas (no incluidas): 1", "Infracciones por hora"}},
		{EN, []string{"Daily infractions report", "Total infractions: 6", "Speeding", "Lane invasion", "Top repeat offenders",
			"Average speed of speed violations (km/h): 80.5", "ABC-123"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.lang), func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			if err := WritePDF(&buf, rep, tc.lang); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "report.pdf")
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(pdftoppm, "-png", "-r", "50", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v: %s", err, out)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
			if len(pages) == 0 {
				t.Fatal("pdftoppm produced no page")
			}
			f, err := os.Open(pages[0])
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatalf("page 1 is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 400 {
				t.Errorf("page 1 is %v", b)
			}
			// The hour chart's bars are drawn in (41,128,185), the speeding bar in typeColors.
			if n := countNear(img, [3]int{41, 128, 185}, 12); n < 20 {
				t.Errorf("hour chart: %d bar pixels on the rendered page", n)
			}
			if n := countNear(img, typeColors["SPEED_VIOLATION"], 12); n < 20 {
				t.Errorf("type chart: %d speeding-bar pixels on the rendered page", n)
			}
			out, err := exec.Command(pdftotext, "-layout", file, "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			text := string(out)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("PDF text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestXLSXReadsBack(t *testing.T) {
	rep := fixtureReport(t)
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, rep, ES); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("not a workbook: %v", err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), ","); got != "Resumen,Por hora,Reincidentes,Infracciones" {
		t.Errorf("sheets %s", got)
	}
	cells := []struct{ sheet, cell, want string }{
		{SheetSummary, "B2", "2026-11-01"},
		{SheetSummary, "B3", "Av. Javier Prado - San Isidro (ZN001)"},
		{SheetSummary, "A7", "Total de infracciones"},
		{SheetSummary, "B7", "6"},
		{SheetSummary, "B8", "80.5"},
		{SheetSummary, "B9", "1"},
		{SheetSummary, "A12", "Exceso de velocidad"},
		{SheetSummary, "B12", "3"},
		{SheetSummary, "B13", "1"},
		{SheetSummary, "B16", "6"},
		{SheetByHour, "A2", "0"},
		{SheetByHour, "B2", "1"},
		{SheetByHour, "A16", "14"},
		{SheetByHour, "B16", "3"},
		{SheetByHour, "B25", "1"},
		{SheetTop, "B2", "ABC-123"},
		{SheetTop, "C2", "3"},
		{SheetTop, "B3", "XYZ-987"},
		{SheetTop, "C3", "2"},
		{SheetInfractions, "A1", "Código"},
		{SheetInfractions, "B2", "2026-11-01 00:10:00"},
		{SheetInfractions, "D2", "ABC-123"},
		{SheetInfractions, "E2", "80"},
	}
	for _, c := range cells {
		got, err := f.GetCellValue(c.sheet, c.cell)
		if err != nil || got != c.want {
			t.Errorf("%s!%s = %q (%v), want %q", c.sheet, c.cell, got, err, c.want)
		}
	}
	rows, err := f.GetRows(SheetInfractions)
	if err != nil || len(rows) != 1+len(rep.Infractions) || len(rep.Infractions) != 7 {
		t.Errorf("Infracciones has %d rows (%v), report lists %d", len(rows), err, len(rep.Infractions))
	}
	// The native chart is a part of the package.
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var chart bool
	for _, zf := range zr.File {
		chart = chart || strings.HasPrefix(zf.Name, "xl/charts/chart")
	}
	if !chart {
		t.Error("workbook has no chart part")
	}

	var en bytes.Buffer
	if err := WriteXLSX(&en, rep, EN); err != nil {
		t.Fatal(err)
	}
	fe, err := excelize.OpenReader(&en)
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	if v, _ := fe.GetCellValue(SheetSummary, "A7"); v != "Total infractions" {
		t.Errorf("English A7 = %q", v)
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct {
		in        int64
		top, step float64
	}{{0, 1, 1}, {1, 1, 1}, {3, 5, 1}, {7, 10, 2}, {12, 20, 4}, {51, 100, 20}, {100, 100, 20}}
	for _, tc := range tests {
		top, step := niceCeil(tc.in)
		if top != tc.top || step != tc.step {
			t.Errorf("niceCeil(%d) = %v, %v; want %v, %v", tc.in, top, step, tc.top, tc.step)
		}
	}
}

// An empty day in a zone whose name has characters outside the PDF core
// fonts' code page still renders, with the Spanish text intact.
func TestPDFEmptyDayOddText(t *testing.T) {
	pdftotext := testenv.RequireTool(t, "pdftotext")
	zone, name := "ZN-9", "Vía Expresa – Ñaña 🚦"
	rep := &Daily{Date: "2026-11-01", ZoneID: &zone, ZoneName: &name, TimeZone: "America/Lima",
		ByType: map[string]int64{}, ByHour: make([]HourCount, 24), GeneratedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	for h := range rep.ByHour {
		rep.ByHour[h].Hour = h
	}
	var buf bytes.Buffer
	if err := WritePDF(&buf, rep, ES); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "empty.pdf")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, want := range []string{"Vía Expresa – Ñaña", "Total de infracciones: 0", "Velocidad promedio de los excesos (km/h): sin datos",
		"Ninguna placa registrada en el día."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, out)
		}
	}
}
