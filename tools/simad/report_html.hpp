// tools/simad/report_html.hpp: the HTML report of `simad experiment` / `simad demo`: one
// self-contained page (no JavaScript, no external style or font; the ad images are linked by relative
// path) with results tables, line plots as inline SVG, and sample queries with their region boxes.
//
//   report::Report r;
//   r.title = "...";  r.intro.push_back("...");
//   r.tables.push_back(table);                                    // best value of each column in bold
//   r.plots.push_back(report::svg_line_plot("P@10 against K", "K", "P@10", {series_a, series_b}));
//   r.queries.push_back(row);                                     // query image + retrieved ads
//   report::write_report("out/report.html", r);                   // atomically
//
// Every piece of text (titles, names, captions, labels, hrefs) is HTML-escaped (& < > " '), so ad
// copy or file names cannot inject markup. Plots are SVG strings that go into the page as they are:
// make them with svg_line_plot, which escapes its own text.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/atomic_file.hpp"

namespace simad::cli::report {

// ---- text ---------------------------------------------------------------------------------------

// Text or attribute value, escaped for HTML and SVG (both contexts: quotes too).
inline std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A table value: 4 decimals; "-" for NaN (a metric with no query, e.g. no unseen category).
inline std::string format_value(double v) {
  if (std::isnan(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

namespace detail {

// SVG coordinate: 2 decimals are far below a pixel.
inline std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

}  // namespace detail

// ---- tables -------------------------------------------------------------------------------------

struct TableRow {
  std::string name;
  std::vector<double> values;  // one per column (a short row leaves its last cells empty)
};

struct Table {
  std::string title;                // caption above the table; empty: none
  std::string name_header = "model";
  std::vector<std::string> columns;
  std::vector<TableRow> rows;
  bool lower_is_better = false;     // P@k and accuracy: higher is better
};

// A <table>: values with 4 decimals, the best of each column in bold. "Best" is decided on the
// displayed value, so two cells that read the same are both bold; NaN is never best.
inline std::string render_table(const Table& t) {
  const size_t ncol = t.columns.size();
  std::vector<std::string> best(ncol);
  for (size_t c = 0; c < ncol; ++c) {
    bool any = false;
    double b = 0;
    for (const TableRow& row : t.rows) {
      if (c >= row.values.size() || std::isnan(row.values[c])) continue;
      const double v = row.values[c];
      if (!any || (t.lower_is_better ? v < b : v > b)) b = v, any = true;
    }
    if (any) best[c] = format_value(b);
  }
  std::string h = "<table>\n";
  if (!t.title.empty()) h += "<caption>" + escape(t.title) + "</caption>\n";
  h += "<thead><tr><th>" + escape(t.name_header) + "</th>";
  for (const std::string& c : t.columns) h += "<th>" + escape(c) + "</th>";
  h += "</tr></thead>\n<tbody>\n";
  for (const TableRow& row : t.rows) {
    h += "<tr><th scope=\"row\">" + escape(row.name) + "</th>";
    for (size_t c = 0; c < ncol; ++c) {
      if (c >= row.values.size()) {
        h += "<td></td>";
        continue;
      }
      const std::string v = format_value(row.values[c]);
      h += (!best[c].empty() && v == best[c]) ? "<td class=\"best\"><b>" + v + "</b></td>" : "<td>" + v + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody>\n</table>\n";
  return h;
}

// ---- line plots ---------------------------------------------------------------------------------

struct Series {
  std::string name;
  std::vector<double> xs, ys;  // same length; non-finite points are left out (the line breaks there)
};

// Plot geometry in SVG pixels: the whole picture is kPlotWidth x kPlotHeight; the plot area (the
// axes' box) spans x in [kPlotLeft, kPlotRight] and y in [kPlotTop, kPlotBottom]; the legend sits to
// the right of the area. A data point (x, y) is drawn at
//   px = kPlotLeft   + (x - xaxis.lo) / (xaxis.hi - xaxis.lo) * (kPlotRight - kPlotLeft)
//   py = kPlotBottom - (y - yaxis.lo) / (yaxis.hi - yaxis.lo) * (kPlotBottom - kPlotTop)
// (SVG y grows downwards), with the axes from nice_axis over all series' finite points.
inline constexpr double kPlotWidth = 720, kPlotHeight = 400;
inline constexpr double kPlotLeft = 70, kPlotRight = 470, kPlotTop = 40, kPlotBottom = 340;

struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  std::vector<double> ticks;  // lo, lo + step, ..., hi
};

// An axis over [lo, hi] widened to whole multiples of a "nice" step (1, 2, 2.5 or 5 times a power
// of ten) giving about `target` intervals. An empty range (lo == hi) is widened by 0.5 (or 10%) each
// side; no finite data (lo > hi or not finite): [0, 1].
inline Axis nice_axis(double lo, double hi, int target = 5) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) lo = 0, hi = 1;
  if (lo == hi) {
    const double pad = lo == 0 ? 0.5 : std::max(0.5, std::abs(lo) * 0.1);
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / double(std::max(1, target));
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 2.5, 5.0})
    if (m * mag >= raw * (1 - 1e-9)) {
      step = m * mag;
      break;
    }
  Axis a;
  a.step = step;
  // The 1e-9 keeps 0.3 / 0.1 = 2.9999999999999996 from adding a whole empty step.
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  // min/max: the 1e-9 must not leave a data point outside by a rounding error (0.013 vs 65 * 0.0002).
  a.lo = std::min(first * step, lo), a.hi = std::max(last * step, hi);
  for (double i = first; i <= last + 0.5; i += 1) a.ticks.push_back(i * step);
  return a;
}

inline double plot_x(const Axis& a, double x) { return kPlotLeft + (x - a.lo) / (a.hi - a.lo) * (kPlotRight - kPlotLeft); }
inline double plot_y(const Axis& a, double y) { return kPlotBottom - (y - a.lo) / (a.hi - a.lo) * (kPlotBottom - kPlotTop); }

namespace detail {

// A tick label: the tick rounded to its step, up to 6 significant digits (0.30000000000000004 -> 0.3).
inline std::string tick_label(double v, double step) {
  v = std::round(v / step) * step;
  if (std::abs(v) < step * 1e-9) v = 0;  // no "-0"
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

inline const char* series_colour(size_t i) {
  static const char* const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                        "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  return colours[i % (sizeof colours / sizeof colours[0])];
}

}  // namespace detail

// A line plot (axes, ticks, grid, one polyline + markers per series, legend) as a standalone <svg>
// element. Series with no finite point still appear in the legend, marked "(no data)".
inline std::string svg_line_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                                 const std::vector<Series>& series) {
  const double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
  for (const Series& s : series) {
    SIMAD_CHECK(s.xs.size() == s.ys.size(), "svg_line_plot: series '", s.name, "' has ", s.xs.size(), " x and ",
                s.ys.size(), " y values");
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) continue;
      xlo = std::min(xlo, s.xs[i]), xhi = std::max(xhi, s.xs[i]);
      ylo = std::min(ylo, s.ys[i]), yhi = std::max(yhi, s.ys[i]);
    }
  }
  const Axis ax = nice_axis(xlo, xhi), ay = nice_axis(ylo, yhi);
  using detail::num;
  std::string h = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"" + num(kPlotWidth) + "\" height=\"" +
                  num(kPlotHeight) + "\" viewBox=\"0 0 " + num(kPlotWidth) + " " + num(kPlotHeight) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  h += "<title>" + escape(title) + "</title>\n";
  h += "<text x=\"" + num((kPlotLeft + kPlotRight) / 2) +
       "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" +
       escape(title) + "</text>\n";
  // Grid and ticks.
  for (double t : ax.ticks) {
    const std::string x = num(plot_x(ax, t));
    h += "<line x1=\"" + x + "\" y1=\"" + num(kPlotTop) + "\" x2=\"" + x + "\" y2=\"" + num(kPlotBottom) +
         "\" stroke=\"#e5e5e5\"/>\n";
    h += "<line x1=\"" + x + "\" y1=\"" + num(kPlotBottom) + "\" x2=\"" + x + "\" y2=\"" + num(kPlotBottom + 5) +
         "\" stroke=\"#333\"/>\n";
    h += "<text x=\"" + x + "\" y=\"" + num(kPlotBottom + 19) + "\" text-anchor=\"middle\">" +
         escape(detail::tick_label(t, ax.step)) + "</text>\n";
  }
  for (double t : ay.ticks) {
    const std::string y = num(plot_y(ay, t));
    h += "<line x1=\"" + num(kPlotLeft) + "\" y1=\"" + y + "\" x2=\"" + num(kPlotRight) + "\" y2=\"" + y +
         "\" stroke=\"#e5e5e5\"/>\n";
    h += "<line x1=\"" + num(kPlotLeft - 5) + "\" y1=\"" + y + "\" x2=\"" + num(kPlotLeft) + "\" y2=\"" + y +
         "\" stroke=\"#333\"/>\n";
    h += "<text x=\"" + num(kPlotLeft - 8) + "\" y=\"" + num(plot_y(ay, t) + 4) + "\" text-anchor=\"end\">" +
         escape(detail::tick_label(t, ay.step)) + "</text>\n";
  }
  h += "<rect x=\"" + num(kPlotLeft) + "\" y=\"" + num(kPlotTop) + "\" width=\"" + num(kPlotRight - kPlotLeft) +
       "\" height=\"" + num(kPlotBottom - kPlotTop) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  h += "<text x=\"" + num((kPlotLeft + kPlotRight) / 2) + "\" y=\"" + num(kPlotBottom + 40) + "\" text-anchor=\"middle\">" +
       escape(x_label) + "</text>\n";
  const std::string ymid = num((kPlotTop + kPlotBottom) / 2);
  h += "<text x=\"18\" y=\"" + ymid + "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " + ymid + ")\">" +
       escape(y_label) + "</text>\n";
  // Series: polylines broken at non-finite points, a marker (with a hover title) per point.
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* colour = detail::series_colour(k);
    std::string points;
    auto flush = [&] {
      if (!points.empty())
        h += "<polyline points=\"" + points + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\"/>\n";
      points.clear();
    };
    bool any = false;
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) {
        flush();
        continue;
      }
      any = true;
      if (!points.empty()) points += ' ';
      points += num(plot_x(ax, s.xs[i])) + "," + num(plot_y(ay, s.ys[i]));
    }
    flush();
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) continue;
      char tip[96];
      std::snprintf(tip, sizeof tip, ": %g, %.4f", s.xs[i], s.ys[i]);
      h += "<circle class=\"point\" cx=\"" + num(plot_x(ax, s.xs[i])) + "\" cy=\"" + num(plot_y(ay, s.ys[i])) +
           "\" r=\"3.5\" fill=\"" + colour + "\"><title>" + escape(s.name + tip) + "</title></circle>\n";
    }
    const double ly = kPlotTop + 10 + 20 * double(k);
    h += "<line x1=\"" + num(kPlotRight + 15) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(kPlotRight + 40) + "\" y2=\"" +
         num(ly) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"/>\n";
    h += "<text x=\"" + num(kPlotRight + 46) + "\" y=\"" + num(ly + 4) + "\">" + escape(s.name) +
         (any ? "" : " (no data)") + "</text>\n";
  }
  h += "</svg>\n";
  return h;
}

// ---- sample queries -----------------------------------------------------------------------------

struct ReportBox {
  double x = 0, y = 0, w = 0, h = 0;  // pixels of the image (top-left corner, size)
  std::string label;                  // drawn by the box; empty: the score with 2 decimals
  double score = 0;
  bool highlight = false;             // e.g. a region the model kept
};

struct ReportImage {
  std::string href;         // the image file, relative to the report (used as given)
  int width = 0, height = 0;  // its size in pixels (<= 0: unknown, drawn as 128 x 128)
  std::vector<ReportBox> boxes;
  std::string caption;
  bool match = false;       // a retrieved ad of the query's category (green border; red otherwise)
};

struct QueryRow {
  ReportImage query;
  std::vector<ReportImage> retrieved;  // best first
};

inline constexpr int kThumbnail = 160;  // displayed size of an ad's longer side, CSS pixels

namespace detail {

// One ad: an inline <svg> whose viewBox is the image's own pixels (so boxes are drawn in image
// coordinates whatever the displayed size) holding the <image> and the boxes, in a <figure>.
// kind: "query", "match" or "miss" (the CSS class: border colour).
inline std::string render_ad(const ReportImage& img, const std::string& kind, const std::string& heading) {
  const int w = img.width > 0 ? img.width : 128, hgt = img.height > 0 ? img.height : 128;
  const double scale = double(kThumbnail) / double(std::max(w, hgt));
  const std::string W = std::to_string(w), H = std::to_string(hgt);
  std::string h = "<figure class=\"ad " + kind + "\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  num(w * scale) + "\" height=\"" + num(hgt * scale) + "\" viewBox=\"0 0 " + W + " " + H + "\">\n";
  h += "<image href=\"" + escape(img.href) + "\" x=\"0\" y=\"0\" width=\"" + W + "\" height=\"" + H +
       "\" preserveAspectRatio=\"none\"/>\n";
  // Strokes and text in displayed pixels, whatever the image size.
  const double px = 1 / scale, font = 11 * px;
  for (const ReportBox& b : img.boxes) {
    const char* colour = b.highlight ? "#ff9800" : "#03a9f4";
    h += "<rect x=\"" + num(b.x) + "\" y=\"" + num(b.y) + "\" width=\"" + num(std::max(0.0, b.w)) + "\" height=\"" +
         num(std::max(0.0, b.h)) + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"" +
         num((b.highlight ? 2.5 : 1.5) * px) + "\"" + (b.highlight ? "" : " stroke-dasharray=\"" + num(4 * px) + "\"") +
         "/>\n";
    char score[32];
    std::snprintf(score, sizeof score, "%.2f", b.score);
    const std::string text = b.label.empty() ? std::string(score) : b.label;
    // Above the box, or inside its top when the box touches the image's top edge.
    const double ty = b.y >= font ? b.y - 0.25 * font : b.y + font;
    h += "<rect x=\"" + num(b.x) + "\" y=\"" + num(ty - 0.95 * font) + "\" width=\"" +
         num(0.62 * font * double(text.size())) + "\" height=\"" + num(1.15 * font) + "\" fill=\"" + colour +
         "\" fill-opacity=\"0.8\"/>\n";
    h += "<text x=\"" + num(b.x + 0.1 * font) + "\" y=\"" + num(ty) + "\" font-size=\"" + num(font) +
         "\" font-family=\"sans-serif\" fill=\"#000\">" + escape(text) + "</text>\n";
  }
  h += "</svg>\n<figcaption>";
  if (!heading.empty()) h += "<b>" + escape(heading) + "</b> ";
  h += escape(img.caption) + "</figcaption>\n</figure>\n";
  return h;
}

}  // namespace detail

inline std::string render_query(const QueryRow& q) {
  std::string h = "<div class=\"query-row\">\n" + detail::render_ad(q.query, "query", "query");
  for (size_t i = 0; i < q.retrieved.size(); ++i) {
    const ReportImage& r = q.retrieved[i];
    // Built by appending: GCC 12's -Wrestrict misfires on "literal" + std::string temporaries here.
    std::string heading = "#";
    heading += std::to_string(i + 1);
    heading += r.match ? " same category" : " other category";
    h += detail::render_ad(r, r.match ? "match" : "miss", heading);
  }
  h += "</div>\n";
  return h;
}

// ---- the page -----------------------------------------------------------------------------------

struct Report {
  std::string title;
  std::vector<std::string> intro;   // paragraphs of plain text
  std::vector<Table> tables;
  std::vector<std::string> plots;   // SVG from svg_line_plot, inserted as is
  std::vector<QueryRow> queries;
};

inline std::string render_report(const Report& r) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>" +
      escape(r.title) + "</title>\n";
  // No '>' in the CSS: the page then has none outside its tags (the tests check the markup that way).
  h +=
      "<style>\n"
      "body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }\n"
      "table { border-collapse: collapse; margin: 1em 0; }\n"
      "caption { font-weight: bold; text-align: left; padding: 0.3em 0; }\n"
      "th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; }\n"
      "td { text-align: right; font-variant-numeric: tabular-nums; }\n"
      "thead th { background: #f3f3f3; }\n"
      "tbody th { text-align: left; font-weight: normal; }\n"
      "td.best { background: #eef7ee; }\n"
      ".query-row { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: flex-start; margin: 1em 0; "
      "padding-bottom: 1em; border-bottom: 1px solid #ddd; }\n"
      "figure.ad { margin: 0; width: " + std::to_string(kThumbnail) + "px; font-size: 11px; }\n"
      "figure.ad svg { display: block; border: 4px solid #888; }\n"
      "figure.query svg { border-color: #555; }\n"
      "figure.match svg { border-color: #2e9d3a; }\n"
      "figure.miss svg { border-color: #d32f2f; }\n"
      "figcaption { margin-top: 0.3em; overflow-wrap: anywhere; }\n"
      "</style>\n</head>\n<body>\n";
  h += "<h1>" + escape(r.title) + "</h1>\n";
  for (const std::string& p : r.intro) h += "<p>" + escape(p) + "</p>\n";
  if (!r.tables.empty()) {
    h += "<h2>Results</h2>\n";
    for (const Table& t : r.tables) h += render_table(t);
  }
  if (!r.plots.empty()) {
    h += "<h2>Plots</h2>\n";
    for (const std::string& p : r.plots) h += "<div class=\"plot\">\n" + p + "</div>\n";
  }
  if (!r.queries.empty()) {
    h += "<h2>Sample queries</h2>\n<p>Each row: a query ad (boxes: its regions with their scores; orange = kept) "
         "and its nearest other ads, best first; green border = same category, red = another.</p>\n";
    for (const QueryRow& q : r.queries) h += render_query(q);
  }
  h += "</body>\n</html>\n";
  return h;
}

// Writes the page to `path` through a temporary beside it renamed into place (io::AtomicFile): a
// reader never sees half a report, and a failed write leaves the previous one.
inline void write_report(const std::string& path, const Report& r) { io::write_file_atomically(path, render_report(r)); }

}  // namespace simad::cli::report
