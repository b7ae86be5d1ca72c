package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Layout of tables, as kubectl's tab writer lays them out: each column is
// as wide as its widest cell plus 3 spaces, and at least 6; the last column
// is not padded.
const (
	tableMinWidth = 6
	tablePadding  = 3
)

// table aligns rows into columns like text/tabwriter with kubectl's
// settings, but remembers column widths across flushes (as kubectl's fork of
// tabwriter does), so that rows printed one by one while watching stay
// aligned with the header.
type table struct {
	out    io.Writer
	widths []int
	rows   [][]string
}

func newTable(out io.Writer) *table { return &table{out: out} }

// add queues one row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// flush writes the queued rows, widening columns as needed.
func (t *table) flush() error {
	for _, row := range t.rows {
		for i, c := range row[:max(len(row)-1, 0)] {
			w := max(utf8.RuneCountInString(c)+tablePadding, tableMinWidth)
			if i >= len(t.widths) {
				t.widths = append(t.widths, w)
			} else if w > t.widths[i] {
				t.widths[i] = w
			}
		}
	}
	var b strings.Builder
	for _, row := range t.rows {
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	t.rows = t.rows[:0]
	_, err := io.WriteString(t.out, b.String())
	return err
}
