// Command chart turns the TSV files scripts/bench/bench.sh collects into the benchmark's
// outputs: results.json, an SVG bar chart (req/s per row, with p50/p99, the ratio to nginx
// and, for Portico's rows, to the no-plugin Portico row; the date and the machine), a
// Markdown summary, and the same table on stdout.
//
//	chart -rows rows.tsv -scale scale.tsv -meta meta.tsv -json results.json -svg results.svg -md results.md
//
// rows.tsv: id, status (ok|skipped), label, req/s, p50 ms, p99 ms, RSS at rest KiB, peak RSS
// KiB, proxy CPU %, errors, req/s of each run (comma separated), note, other load (CPU
// the rest of the machine used during the runs, % of one core).
// scale.tsv: key, value, unit, description. meta.tsv: key, value.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
)

type row struct {
	ID          string    `json:"id"`
	Label       string    `json:"label"`
	Status      string    `json:"status"`
	RPS         float64   `json:"rps"`
	P50ms       float64   `json:"p50_ms"`
	P99ms       float64   `json:"p99_ms"`
	VsNginx     *float64  `json:"rps_vs_nginx,omitempty"`
	VsPortico   *float64  `json:"rps_vs_portico,omitempty"` // Portico's rows: ratio to the no-plugin row
	Baseline    string    `json:"baseline,omitempty"`       // the row that differs from this one by one thing
	VsBaseline  *float64  `json:"rps_vs_baseline,omitempty"`
	RSSRestKiB  int64     `json:"rss_rest_kib"`
	RSSPeakKiB  int64     `json:"rss_under_load_kib"`
	ProxyCPUPct float64   `json:"proxy_cpu_pct"`
	OtherPct    float64   `json:"other_load_pct_of_core"` // CPU the rest of the machine used meanwhile
	Errors      int64     `json:"errors"`
	RunsRPS     []float64 `json:"runs_rps"`
	Note        string    `json:"note,omitempty"`
}

type metric struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Unit        string `json:"unit"`
	Description string `json:"description"`
}

type kv struct{ k, v string }

func main() {
	rowsPath := flag.String("rows", "", "rows.tsv")
	scalePath := flag.String("scale", "", "scale.tsv")
	metaPath := flag.String("meta", "", "meta.tsv")
	jsonOut := flag.String("json", "", "write results JSON here")
	svgOut := flag.String("svg", "", "write the SVG chart here")
	mdOut := flag.String("md", "", "write the Markdown summary here")
	flag.Parse()

	rows := readRows(*rowsPath)
	var scale []metric
	for _, f := range readTSV(*scalePath) {
		for len(f) < 4 {
			f = append(f, "")
		}
		scale = append(scale, metric{f[0], f[1], f[2], f[3]})
	}
	var meta []kv
	metaMap := map[string]string{}
	for _, f := range readTSV(*metaPath) {
		if len(f) >= 2 {
			meta = append(meta, kv{f[0], f[1]})
			metaMap[f[0]] = f[1]
		}
	}

	var nginx, portico *row
	for i, r := range rows {
		if r.ID == "nginx" && r.Status == "ok" {
			nginx = &rows[i]
		}
		if r.ID == "portico" && r.Status == "ok" {
			portico = &rows[i]
		}
	}
	byID := map[string]*row{}
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for i := range rows {
		if b := byID[baselines[rows[i].ID]]; b != nil && b.Status == "ok" && rows[i].Status == "ok" {
			rows[i].Baseline = b.ID
			rows[i].VsBaseline = ratio(&rows[i], b)
		}
		if nginx != nil && rows[i].Status == "ok" {
			rows[i].VsNginx = ratio(&rows[i], nginx)
		}
		if portico != nil && rows[i].Status == "ok" && porticoRow(rows[i].ID) {
			rows[i].VsPortico = ratio(&rows[i], portico)
		}
	}

	md := markdown(rows, scale, meta)
	fmt.Print(md)
	if *mdOut != "" {
		must(os.WriteFile(*mdOut, []byte(md), 0o644))
	}
	if *jsonOut != "" {
		m := map[string]string{}
		for _, e := range meta {
			m[e.k] = e.v
		}
		b, err := json.MarshalIndent(map[string]any{"meta": m, "rows": rows, "scale": scale}, "", "  ")
		must(err)
		must(os.WriteFile(*jsonOut, append(b, '\n'), 0o644))
	}
	if *svgOut != "" {
		f, err := os.Create(*svgOut)
		must(err)
		writeSVG(f, rows, metaMap)
		must(f.Close())
	}
}

// baselines: rows measured against a row that differs by one thing, to isolate its cost.
var baselines = map[string]string{
	// the wasm row's plugin without the hook: the difference is the hook alone
	"portico_wasm_pre_function": "portico_client_control",
}

// ratio is r's req/s against ref's. bench.sh measures the rows interleaved, run i of every
// row in round i; with as many runs on both sides it is the median of the per-round ratios,
// which cancels the machine's drift between rounds. Otherwise the ratio of the medians.
func ratio(r, ref *row) *float64 {
	var v float64
	if n := len(r.RunsRPS); n > 0 && n == len(ref.RunsRPS) {
		per := make([]float64, 0, n)
		for i := range n {
			if ref.RunsRPS[i] > 0 {
				per = append(per, r.RunsRPS[i]/ref.RunsRPS[i])
			}
		}
		v = median(per)
	} else if ref.RPS > 0 {
		v = r.RPS / ref.RPS
	}
	return &v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// porticoRow: a row that runs Portico (the plugin rows and the 10 000-route rows).
func porticoRow(id string) bool {
	return strings.HasPrefix(id, "portico") || strings.HasPrefix(id, "scale")
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func readTSV(path string) [][]string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	must(err)
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, strings.Split(line, "\t"))
	}
	return out
}

func num(s string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v
}

func readRows(path string) []row {
	var rows []row
	for _, f := range readTSV(path) {
		for len(f) < 13 {
			f = append(f, "")
		}
		r := row{
			ID: f[0], Status: f[1], Label: f[2], RPS: num(f[3]), P50ms: num(f[4]), P99ms: num(f[5]),
			RSSRestKiB: int64(num(f[6])), RSSPeakKiB: int64(num(f[7])), ProxyCPUPct: num(f[8]),
			Errors: int64(num(f[9])), Note: f[11], RunsRPS: []float64{}, OtherPct: num(f[12]),
		}
		for _, s := range strings.Split(f[10], ",") {
			if s != "" {
				r.RunsRPS = append(r.RunsRPS, num(s))
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// thousands formats 12345.6 as "12 346".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mib(kib int64) string {
	if kib <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func markdown(rows []row, scale []metric, meta []kv) string {
	var b strings.Builder
	b.WriteString("| row | req/s | p50 | p99 | vs nginx | vs portico | proxy CPU | RSS at rest / under load | other load |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.Status != "ok" {
			fmt.Fprintf(&b, "| %s | – | – | – | – | – | – | skipped: %s | |\n", r.Label, r.Note)
			continue
		}
		ratio, vsPortico := "–", "–"
		if r.VsNginx != nil {
			ratio = fmt.Sprintf("%.2f×", *r.VsNginx)
		}
		if r.VsPortico != nil {
			vsPortico = fmt.Sprintf("%.2f×", *r.VsPortico)
			if r.ID != "portico" {
				vsPortico += fmt.Sprintf(" (%+.1f %%)", 100*(*r.VsPortico-1))
			}
		}
		if r.VsBaseline != nil {
			vsPortico += fmt.Sprintf("; %+.1f %% vs %s", 100*(*r.VsBaseline-1), r.Baseline)
		}
		label := r.Label
		if r.Errors > 0 {
			label += fmt.Sprintf(" (%d errors)", r.Errors)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f ms | %.2f ms | %s | %s | %.0f %% | %s / %s | %.0f %% |\n",
			label, thousands(r.RPS), r.P50ms, r.P99ms, ratio, vsPortico, r.ProxyCPUPct, mib(r.RSSRestKiB), mib(r.RSSPeakKiB), r.OtherPct)
	}
	b.WriteString("\nreq/s, p50, p99: median of the runs. vs nginx: req/s ratio (rows run interleaved; the median of the per-round ratios). " +
		"vs portico: req/s ratio to \"Portico, 1 route, no plugin\" (what a plugin or the route count costs); " +
		"\"vs <row>\": against the row that differs by one thing only (the wasm row: the same plugin without the hook). " +
		"proxy CPU: the proxy's CPU time (with its children: the ext-plugin runner), % of its one core. " +
		"other load: CPU the rest of the machine used during the runs besides proxy, upstream and wrk, % of one core " +
		"(0 on a quiet machine; large values mean the row was disturbed).\n")
	if len(scale) > 0 {
		b.WriteString("\n| measurement | value |\n|---|---:|\n")
		for _, m := range scale {
			v, u := m.Value, m.Unit
			if u == "KiB" {
				v, u = mib(int64(num(v))), ""
			}
			fmt.Fprintf(&b, "| %s | %s %s |\n", m.Description, v, u)
		}
	}
	b.WriteString("\n")
	for _, e := range meta {
		fmt.Fprintf(&b, "- %s: %s\n", e.k, e.v)
	}
	return b.String()
}

func writeSVG(w io.Writer, rows []row, meta map[string]string) {
	const (
		width   = 1100
		labelW  = 370
		barMax  = 380
		rowH    = 30
		barH    = 20
		headerH = 92
		footerH = 52
	)
	max := 0.0
	for _, r := range rows {
		if r.RPS > max {
			max = r.RPS
		}
	}
	if max == 0 {
		max = 1
	}
	height := headerH + rowH*len(rows) + footerH
	esc := html.EscapeString
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(w, `<text x="16" y="26" font-size="17" font-weight="bold">Requests per second through one proxy core (1 KiB response, keep-alive) — higher is better</text>`+"\n")
	fmt.Fprintf(w, `<text x="16" y="48" fill="#444">%s · %s · %s cores · %s</text>`+"\n",
		esc(meta["date"]), esc(meta["cpu"]), esc(meta["cores"]), esc(meta["kernel"]))
	fmt.Fprintf(w, `<text x="16" y="68" fill="#444">%s · %s</text>`+"\n", esc(meta["wrk"]), esc(meta["pinning"]))
	for i, r := range rows {
		y := headerH + i*rowH
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+barH/2+5, esc(r.Label))
		if r.Status != "ok" {
			fmt.Fprintf(w, `<text x="%d" y="%d" fill="#999" font-style="italic">skipped: %s</text>`+"\n", labelW, y+barH/2+5, esc(short(r.Note, 70)))
			continue
		}
		color := "#9aa5b1"
		switch {
		case r.ID == "direct":
			color = "#d5dae0"
		case r.ID == "nginx":
			color = "#2e8b57"
		case strings.HasPrefix(r.ID, "portico"), strings.HasPrefix(r.ID, "scale"):
			color = "#1f6feb"
		}
		bw := int(float64(barMax) * r.RPS / max)
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", labelW, y, bw, barH, color)
		txt := fmt.Sprintf("%s req/s · p50 %.2f ms · p99 %.2f ms", thousands(r.RPS), r.P50ms, r.P99ms)
		if r.VsNginx != nil && r.ID != "nginx" && r.ID != "direct" {
			txt += fmt.Sprintf(" · %.2f× nginx", *r.VsNginx)
		}
		if r.VsPortico != nil && r.ID != "portico" {
			txt += fmt.Sprintf(" · %.2f× Portico", *r.VsPortico)
		}
		if r.VsBaseline != nil {
			txt += fmt.Sprintf(" · %+.1f %% vs %s", 100*(*r.VsBaseline-1), r.Baseline)
		}
		if r.OtherPct > 15 {
			txt += fmt.Sprintf(" · disturbed: other load %.0f %%", r.OtherPct)
		}
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", labelW+bw+6, y+barH/2+5, esc(txt))
	}
	fy := headerH + rowH*len(rows) + 18
	fmt.Fprintf(w, `<text x="16" y="%d" fill="#666" font-size="11">upstream: %s · Portico %s · %s · %s</text>`+"\n",
		fy, esc(meta["upstream"]), esc(meta["portico"]), esc(meta["go"]), esc(meta["loadavg"]))
	fmt.Fprintf(w, `<text x="16" y="%d" fill="#666" font-size="11">Bars: median req/s of the runs. Blue: Portico; green: nginx, the 1.00× reference; light grey: wrk straight to the upstream (the ceiling). Generated by scripts/bench/bench.sh (task bench).</text>`+"\n", fy+17)
	fmt.Fprintln(w, `</svg>`)
}

func short(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
