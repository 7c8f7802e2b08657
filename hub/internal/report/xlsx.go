package report

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// Sheet names of the workbook. They stay in Spanish whatever the label
// language, so that formulas and scripts reading the file keep working.
const (
	SheetSummary     = "Resumen"
	SheetByHour      = "Por hora"
	SheetTop         = "Reincidentes"
	SheetInfractions = "Infracciones"
)

// WriteXLSX renders the report as an .xlsx workbook with the sheets Resumen
// (header and totals by type), Por hora (24 rows and a native column
// chart), Reincidentes (top violators) and Infracciones (the day's list).
func WriteXLSX(w io.Writer, rep *Daily, lang Lang) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := writeWorkbook(f, rep, lang); err != nil {
		return fmt.Errorf("report: xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("report: xlsx: write: %w", err)
	}
	return nil
}

// cell returns the A1 name of column col (1-based) and row.
func cell(col, row int) string {
	n, _ := excelize.CoordinatesToCellName(col, row)
	return n
}

func setRow(f *excelize.File, sheet string, row int, vals ...any) error {
	return f.SetSheetRow(sheet, cell(1, row), &vals)
}

func writeWorkbook(f *excelize.File, rep *Daily, lang Lang) error {
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return err
	}
	for _, s := range []string{SheetByHour, SheetTop, SheetInfractions} {
		if _, err := f.NewSheet(s); err != nil {
			return err
		}
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"E6E9ED"}}})
	if err != nil {
		return err
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return err
	}

	// Resumen.
	s := SheetSummary
	var avg any = lang.t(lNone)
	if rep.AverageSpeedViolation != nil {
		avg = *rep.AverageSpeedViolation
	}
	rows := [][]any{
		{lang.t(lTitle)},
		{lang.t(lDate), rep.Date},
		{lang.t(lZone), rep.zoneLabel(lang)},
		{lang.t(lTimeZone), rep.TimeZone},
		{lang.t(lGenerated), rep.GeneratedAt.Format("2006-01-02 15:04:05 UTC")},
		{},
		{lang.t(lTotalLine), rep.TotalInfractions},
		{lang.t(lAvgSpeed), avg},
		{lang.t(lRejected), rep.RejectedCount},
		{},
		{lang.t(lType), lang.t(lCount)},
	}
	for i, r := range rows {
		if err := setRow(f, s, i+1, r...); err != nil {
			return err
		}
	}
	typeHeader := len(rows)
	for i, t := range Types {
		if err := setRow(f, s, typeHeader+1+i, lang.typeName(t), rep.ByType[t]); err != nil {
			return err
		}
	}
	if err := setRow(f, s, typeHeader+1+len(Types), lang.t(lTotal), rep.TotalInfractions); err != nil {
		return err
	}
	_ = f.SetCellStyle(s, "A1", "A1", title)
	_ = f.SetCellStyle(s, cell(1, typeHeader), cell(2, typeHeader), bold)
	_ = f.SetCellStyle(s, cell(1, typeHeader+1+len(Types)), cell(2, typeHeader+1+len(Types)), bold)
	_ = f.SetColWidth(s, "A", "A", 44)
	_ = f.SetColWidth(s, "B", "B", 30)

	// Por hora, with a native column chart.
	s = SheetByHour
	if err := setRow(f, s, 1, lang.t(lHour), lang.t(lCount)); err != nil {
		return err
	}
	_ = f.SetCellStyle(s, "A1", "B1", bold)
	for i, b := range rep.ByHour {
		if err := setRow(f, s, i+2, b.Hour, b.Count); err != nil {
			return err
		}
	}
	ref := "'" + SheetByHour + "'!"
	if err := f.AddChart(s, "D2", &excelize.Chart{
		Type: excelize.Col,
		Series: []excelize.ChartSeries{{
			Name:       ref + "$B$1",
			Categories: ref + "$A$2:$A$25",
			Values:     ref + "$B$2:$B$25",
		}},
		Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: lang.t(lByHour) + " " + rep.Date}}},
		Legend: excelize.ChartLegend{Position: "none"},
	}); err != nil {
		return fmt.Errorf("chart: %w", err)
	}

	// Reincidentes.
	s = SheetTop
	if err := setRow(f, s, 1, lang.t(lRank), lang.t(lPlate), lang.t(lCount)); err != nil {
		return err
	}
	_ = f.SetCellStyle(s, "A1", "C1", bold)
	for i, v := range rep.TopViolators {
		if err := setRow(f, s, i+2, i+1, v.Plate, v.Count); err != nil {
			return err
		}
	}
	_ = f.SetColWidth(s, "B", "B", 16)

	// Infracciones.
	s = SheetInfractions
	if err := setRow(f, s, 1, lang.t(lCode), lang.t(lDetectedAt), lang.t(lType), lang.t(lPlate),
		lang.t(lSpeed), lang.t(lLimit), lang.t(lDevice), lang.t(lZone), lang.t(lStatus)); err != nil {
		return err
	}
	_ = f.SetCellStyle(s, "A1", "I1", bold)
	for i, r := range rep.Infractions {
		var speed, limit any
		if r.DetectedSpeed != nil {
			speed = *r.DetectedSpeed
		}
		if r.SpeedLimit != nil {
			limit = *r.SpeedLimit
		}
		// The local time as text: a spreadsheet date has no time zone.
		if err := setRow(f, s, i+2, r.Code, r.DetectedAt.Format("2006-01-02 15:04:05"), lang.typeName(r.Type), r.Plate,
			speed, limit, r.DeviceID, r.ZoneID, lang.statusName(r.Status)); err != nil {
			return err
		}
	}
	if rep.Truncated {
		if err := setRow(f, s, len(rep.Infractions)+3, fmt.Sprintf(lang.t(lTruncated), MaxListed)); err != nil {
			return err
		}
	}
	_ = f.SetColWidth(s, "A", "A", 20)
	_ = f.SetColWidth(s, "B", "B", 20)
	_ = f.SetColWidth(s, "C", "C", 20)
	f.SetActiveSheet(0)
	return nil
}
