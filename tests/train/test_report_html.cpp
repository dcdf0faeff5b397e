// Tests of tools/simad/report_html.hpp (the HTML report of `simad experiment`): escaping of hostile
// text, the table's bold best values, well-formed markup (a small tag-balance checker below), the
// plot's axis mapping, the sample-query figures, and the atomic write.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../tools/simad/report_html.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace report = simad::cli::report;
namespace fs = std::filesystem;

namespace {

// Checks that markup is XML-ish: every tag closed in order (or self-closed with "/>"), attribute
// values quoted, no '<' or '>' outside tags and quotes, every '&' starting an entity. Comments and
// <!DOCTYPE> are skipped. Returns the opening tag names in order (to compare structures), and sets
// `error` to the first problem (empty when none).
bool entity_at(std::string_view s, size_t i) {
  size_t j = i + 1;
  if (j < s.size() && s[j] == '#') {
    ++j;
    const size_t d = j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    return j > d && j < s.size() && s[j] == ';';
  }
  const size_t a = j;
  while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
  return j > a && j < s.size() && s[j] == ';';
}

std::vector<std::string> check_markup(std::string_view s, std::string& error) {
  std::vector<std::string> stack, opened;
  error.clear();
  auto fail_at = [&](size_t at, const std::string& what) {
    if (error.empty()) error = what + " at byte " + std::to_string(at) + ": '" + std::string(s.substr(at, 40)) + "'";
  };
  size_t i = 0;
  while (i < s.size() && error.empty()) {
    const char c = s[i];
    if (c == '>') {
      fail_at(i, "stray '>'");
    } else if (c == '&') {
      if (!entity_at(s, i)) fail_at(i, "bare '&'");
      ++i;
    } else if (c != '<') {
      ++i;
    } else if (s.substr(i, 4) == "<!--") {
      const size_t e = s.find("-->", i);
      if (e == std::string_view::npos) fail_at(i, "unterminated comment");
      i = e + 3;
    } else if (s.substr(i, 2) == "<!") {
      const size_t e = s.find('>', i);
      if (e == std::string_view::npos) fail_at(i, "unterminated declaration");
      i = e + 1;
    } else {
      size_t j = i + 1;
      const bool closing = j < s.size() && s[j] == '/';
      if (closing) ++j;
      const size_t n0 = j;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':')) ++j;
      const std::string name(s.substr(n0, j - n0));
      if (name.empty()) {
        fail_at(i, "'<' that starts no tag");
        break;
      }
      while (j < s.size() && s[j] != '>' && error.empty()) {
        if (s[j] == '"' || s[j] == '\'') {
          const size_t e = s.find(s[j], j + 1);
          if (e == std::string_view::npos) {
            fail_at(j, "unterminated attribute value");
            break;
          }
          for (size_t k = j + 1; k < e; ++k) {
            if (s[k] == '<' || s[k] == '>') fail_at(k, "raw '<' or '>' in an attribute value");
            if (s[k] == '&' && !entity_at(s, k)) fail_at(k, "bare '&' in an attribute value");
          }
          j = e + 1;
        } else if (s[j] == '<') {
          fail_at(j, "'<' inside a tag");
        } else {
          ++j;
        }
      }
      if (!error.empty()) break;
      if (j >= s.size()) {
        fail_at(i, "unterminated tag");
        break;
      }
      const bool self_closing = s[j - 1] == '/';
      if (closing) {
        if (stack.empty() || stack.back() != name)
          fail_at(i, "</" + name + "> closes " + (stack.empty() ? "nothing" : "<" + stack.back() + ">"));
        else stack.pop_back();
      } else {
        opened.push_back(name);
        if (!self_closing) stack.push_back(name);
      }
      i = j + 1;
    }
  }
  if (error.empty() && !stack.empty()) error = "<" + stack.back() + "> never closed";
  return opened;
}

// The checker itself must catch what it is for.
TEST_CASE("cli/report_html: the markup checker rejects unbalanced and unescaped markup") {
  std::string e;
  check_markup("<svg><g><rect x=\"1\"/></g></svg>", e);
  CHECK(e.empty());
  check_markup("<p>a &amp; b &#39; c</p>", e);
  CHECK(e.empty());
  check_markup("<svg><g></svg>", e);
  CHECK(!e.empty());
  check_markup("<p>a < b</p>", e);
  CHECK(!e.empty());
  check_markup("<p>a > b</p>", e);
  CHECK(!e.empty());
  check_markup("<p>a & b</p>", e);
  CHECK(!e.empty());
  check_markup("<p title=\"a\"b\">x</p>", e);
  CHECK(!e.empty());
  check_markup("<p>", e);
  CHECK(!e.empty());
}

bool has_event_handler(const std::string& html);

TEST_CASE("cli/report_html: the event-handler finder finds attributes, not quoted text") {
  CHECK(has_event_handler("<img src=\"x\" onerror=\"y\">"));
  CHECK(!has_event_handler("<img src=\"x onerror=y\">"));
  CHECK(!has_event_handler("<p>text onerror=y</p>"));
}

const std::string kHostile = "\"'><script>alert('x')</script><img src=x onerror=\"y\"> & Co.";

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// An attribute like onload= / onerror= of a tag (text inside quoted attribute values is no attribute).
bool has_event_handler(const std::string& html) {
  bool in_tag = false;
  char quote = 0;
  for (size_t i = 0; i < html.size(); ++i) {
    if (quote) {
      if (html[i] == quote) quote = 0;
    } else if (html[i] == '<') {
      in_tag = true;
    } else if (html[i] == '>') {
      in_tag = false;
    } else if (in_tag && (html[i] == '"' || html[i] == '\'')) {
      quote = html[i];
    } else if (in_tag && html.compare(i, 3, " on") == 0) {
      size_t j = i + 3;
      while (j < html.size() && std::isalpha(static_cast<unsigned char>(html[j]))) ++j;
      if (j < html.size() && html[j] == '=') return true;
    }
  }
  return false;
}

// A report with `text` in every text field (title, intro, table, plot, captions, labels, href).
report::Report report_with(const std::string& text) {
  report::Report r;
  r.title = text;
  r.intro = {text, "second paragraph " + text};
  report::Table t;
  t.title = text;
  t.columns = {text, "P@10"};
  t.rows.push_back({text, {0.5, 0.25}});
  t.rows.push_back({"b", {0.75, std::nan("")}});
  r.tables.push_back(t);
  r.plots.push_back(report::svg_line_plot(text, text, text, {{text, {1, 2, 3}, {0.1, 0.2, 0.3}}}));
  report::QueryRow q;
  q.query.href = text + ".png";
  q.query.width = 128, q.query.height = 96;
  q.query.caption = text;
  q.query.boxes.push_back({10, 12, 30, 40, text, 0.9, true});
  q.query.boxes.push_back({0, 0, 20, 20, "", 0.25, false});
  report::ReportImage hit;
  hit.href = "ok.png", hit.caption = text, hit.match = true;
  report::ReportImage miss = hit;
  miss.match = false;
  q.retrieved = {hit, miss};
  r.queries.push_back(q);
  return r;
}

// The <td> cells of each body row of a rendered table, as their inner HTML.
std::vector<std::vector<std::string>> body_cells(const std::string& html) {
  std::vector<std::vector<std::string>> rows;
  const size_t body = html.find("<tbody>");
  for (size_t p = html.find("<tr>", body); p != std::string::npos; p = html.find("<tr>", p + 1)) {
    const size_t end = html.find("</tr>", p);
    std::vector<std::string> cells;
    for (size_t c = html.find("<td", p); c != std::string::npos && c < end; c = html.find("<td", c + 1)) {
      const size_t open = html.find('>', c) + 1;
      cells.push_back(html.substr(open, html.find("</td>", open) - open));
    }
    rows.push_back(cells);
  }
  return rows;
}

// The numeric value of attribute `name` of each element that starts with `start`.
std::vector<double> attribute_values(const std::string& svg, const std::string& start, const std::string& name) {
  std::vector<double> out;
  for (size_t p = svg.find(start); p != std::string::npos; p = svg.find(start, p + 1)) {
    const size_t a = svg.find(" " + name + "=\"", p);
    out.push_back(std::stod(svg.substr(a + name.size() + 3)));
  }
  return out;
}

// The names of the entries in `dir`.
std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  return v;
}

}  // namespace

TEST_CASE("cli/report_html: escape turns & < > \" ' into entities and nothing else") {
  CHECK(report::escape("a<b>&\"'c") == "a&lt;b&gt;&amp;&quot;&#39;c");
  CHECK(report::escape("&amp;") == "&amp;amp;");  // escaping is not idempotent on purpose: text is text
  CHECK(report::escape("ABC 绿茶 \t\n") == "ABC 绿茶 \t\n");  // UTF-8 and whitespace pass unchanged
  CHECK(report::escape("").empty());
}

TEST_CASE("cli/report_html: hostile strings in every field stay text") {
  const std::string hostile = report::render_report(report_with(kHostile));
  const std::string benign = report::render_report(report_with("plain text"));
  std::string e1, e2;
  const std::vector<std::string> tags_hostile = check_markup(hostile, e1);
  const std::vector<std::string> tags_benign = check_markup(benign, e2);
  INFO(e1);
  CHECK(e1.empty());
  CHECK(e2.empty());
  // Same elements in the same order: the hostile text added no markup.
  CHECK(tags_hostile == tags_benign);
  CHECK(lower(hostile).find("<script") == std::string::npos);
  CHECK(lower(hostile).find("<img") == std::string::npos);
  CHECK(lower(hostile).find("onerror=\"") == std::string::npos);
  // The text itself is there, escaped, in each of the fields above (at least 14 places).
  const std::string escaped = report::escape(kHostile);
  CHECK(escaped.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") != std::string::npos);
  CHECK(count(hostile, escaped) >= 14);
  CHECK(hostile.find("href=\"" + escaped + ".png\"") != std::string::npos);
  // No JavaScript anywhere: no script element, no event handler attribute, no javascript: URL.
  CHECK(lower(benign).find("<script") == std::string::npos);
  CHECK(!has_event_handler(lower(benign)));
  CHECK(!has_event_handler(lower(hostile)));
  CHECK(lower(benign).find("javascript:") == std::string::npos);
}

TEST_CASE("cli/report_html: the table shows 4 decimals and the best value of each column in bold") {
  report::Table t;
  t.columns = {"P@1", "P@5", "P@10", "tied at 4 decimals"};
  t.rows.push_back({"A", {0.5, 0.2, std::nan(""), 0.12344}});
  t.rows.push_back({"B", {0.7, 0.2, 0.1, 0.12341}});
  t.rows.push_back({"C", {0.6, 0.1, 0.3, 0.1}});
  t.rows.push_back({"short", {0.1}});
  const std::string html = report::render_table(t);
  std::string e;
  check_markup(html, e);
  CHECK(e.empty());
  const auto cells = body_cells(html);
  REQUIRE(cells.size() == 4);
  CHECK(cells[0] == std::vector<std::string>{"0.5000", "<b>0.2000</b>", "-", "<b>0.1234</b>"});
  CHECK(cells[1] == std::vector<std::string>{"<b>0.7000</b>", "<b>0.2000</b>", "0.1000", "<b>0.1234</b>"});
  CHECK(cells[2] == std::vector<std::string>{"0.6000", "0.1000", "<b>0.3000</b>", "0.1000"});
  CHECK(cells[3] == std::vector<std::string>{"0.1000", "", "", ""});  // a short row: empty cells
  CHECK(html.find("<th scope=\"row\">B</th>") != std::string::npos);
  // Lower is better (e.g. a loss): the minimum is bold, NaN never.
  t.lower_is_better = true;
  const auto low = body_cells(report::render_table(t));
  CHECK(low[3][0] == "<b>0.1000</b>");
  CHECK(low[2][2] == "0.3000");
  CHECK(low[1][2] == "<b>0.1000</b>");
  CHECK(low[0][2] == "-");
  CHECK(report::format_value(1.0 / 3) == "0.3333");
  CHECK(report::format_value(std::nan("")) == "-");
}

TEST_CASE("cli/report_html: nice axes") {
  report::Axis a = report::nice_axis(1, 10);  // span 9 / 5 = 1.8 -> step 2
  CHECK(a.step == doctest::Approx(2));
  CHECK(a.lo == doctest::Approx(0));
  CHECK(a.hi == doctest::Approx(10));
  CHECK(a.ticks.size() == 6);
  a = report::nice_axis(0.25, 0.75);  // span 0.5 / 5 = 0.1 -> step 0.1, [0.2, 0.8]
  CHECK(a.step == doctest::Approx(0.1));
  CHECK(a.lo == doctest::Approx(0.2));
  CHECK(a.hi == doctest::Approx(0.8));
  CHECK(a.ticks.size() == 7);
  a = report::nice_axis(0.3, 0.6);  // 0.3 / 0.1 is 2.9999999999999996: no extra step below
  CHECK(a.lo == doctest::Approx(0.3));
  a = report::nice_axis(0.4, 0.4);  // a single value: widened, and inside
  CHECK(a.lo < 0.4);
  CHECK(a.hi > 0.4);
  a = report::nice_axis(INFINITY, -INFINITY);  // no data
  CHECK(a.lo == 0);
  CHECK(a.hi == 1);
  for (double lo : {-3.7, 0.0, 0.013, 250.0})
    for (double span : {0.001, 0.7, 13.0, 9999.0}) {
      const report::Axis b = report::nice_axis(lo, lo + span);
      CHECK(b.lo <= lo);
      CHECK(b.hi >= lo + span);
      CHECK(b.ticks.size() >= 3);
      CHECK(b.ticks.size() <= 12);
      CHECK(b.ticks.front() == doctest::Approx(b.lo));
      CHECK(b.ticks.back() == doctest::Approx(b.hi));
    }
}

TEST_CASE("cli/report_html: the line plot is balanced SVG and its points map into the plot area") {
  const report::Series text{"text-guided <ToTYEmb>", {1, 3, 5, 10}, {0.25, 0.5, 0.75, 0.6}};
  const report::Series conf{"detector confidence", {1, 5, 10}, {0.3, 0.5, std::nan("")}};
  const report::Series empty{"nothing", {}, {}};
  const std::string svg = report::svg_line_plot("P@10 against K", "K", "P@10", {text, conf, empty});
  std::string e;
  const std::vector<std::string> tags = check_markup(svg, e);
  INFO(e);
  REQUIRE(e.empty());
  REQUIRE(!tags.empty());
  CHECK(tags.front() == "svg");
  CHECK(svg.find("text-guided &lt;ToTYEmb&gt;") != std::string::npos);
  CHECK(svg.find("nothing (no data)") != std::string::npos);
  CHECK(count(svg, "<polyline") == 2);  // the NaN ends the second series' line: one segment
  // Axes over all finite points: x in [1, 10] -> [0, 10] step 2; y in [0.25, 0.75] -> [0.2, 0.8].
  const std::vector<double> cx = attribute_values(svg, "<circle class=\"point\"", "cx");
  const std::vector<double> cy = attribute_values(svg, "<circle class=\"point\"", "cy");
  REQUIRE(cx.size() == 6);  // 4 + 2 finite points
  REQUIRE(cy.size() == 6);
  const double xs[] = {1, 3, 5, 10, 1, 5}, ys[] = {0.25, 0.5, 0.75, 0.6, 0.3, 0.5};
  for (size_t i = 0; i < 6; ++i) {
    // The documented mapping, with the axis bounds worked out by hand.
    const double px = report::kPlotLeft + (xs[i] - 0) / (10 - 0) * (report::kPlotRight - report::kPlotLeft);
    const double py = report::kPlotBottom - (ys[i] - 0.2) / (0.8 - 0.2) * (report::kPlotBottom - report::kPlotTop);
    CHECK(std::abs(cx[i] - px) <= 0.006);
    CHECK(std::abs(cy[i] - py) <= 0.006);
    CHECK(cx[i] >= report::kPlotLeft);
    CHECK(cx[i] <= report::kPlotRight);
    CHECK(cy[i] >= report::kPlotTop);
    CHECK(cy[i] <= report::kPlotBottom);
  }
  // (5, 0.5) is the centre of both axes, so the centre of the area; x = 10 the right edge.
  CHECK(std::abs(cx[2] - (report::kPlotLeft + report::kPlotRight) / 2) <= 0.006);
  CHECK(std::abs(cy[1] - (report::kPlotTop + report::kPlotBottom) / 2) <= 0.006);
  CHECK(std::abs(cx[3] - report::kPlotRight) <= 0.006);
  // Tick labels are the nice values, without float noise.
  CHECK(svg.find(">0.3</text>") != std::string::npos);
  CHECK(svg.find("0.30000") == std::string::npos);
  CHECK_THROWS_AS(report::svg_line_plot("t", "x", "y", {{"bad", {1, 2}, {1}}}), Error);
}

TEST_CASE("cli/report_html: sample queries draw the image, the boxes and the match borders") {
  report::QueryRow q;
  q.query.href = "images/q.png";
  q.query.width = 200, q.query.height = 100;
  q.query.caption = "green tea";
  q.query.boxes.push_back({10, 20, 50, 40, "kept 0.91", 0.91, true});
  q.query.boxes.push_back({100, 0, 30, 30, "", 0.256, false});  // no label: the score, 2 decimals
  report::ReportImage a, b, c;
  a.href = "images/a.png", a.width = 200, a.height = 100, a.match = true;
  b.href = "images/b.png", b.width = 0, b.height = 0, b.match = false;  // unknown size
  c.href = "images/c.png", c.width = 50, c.height = 100, c.match = true;
  q.retrieved = {a, b, c};
  const std::string html = report::render_query(q);
  std::string e;
  const std::vector<std::string> tags = check_markup(html, e);
  INFO(e);
  CHECK(e.empty());
  CHECK(std::count(tags.begin(), tags.end(), "svg") == 4);
  CHECK(std::count(tags.begin(), tags.end(), "image") == 4);
  CHECK(std::count(tags.begin(), tags.end(), "figure") == 4);
  CHECK(html.find("<image href=\"images/q.png\" x=\"0\" y=\"0\" width=\"200\" height=\"100\"") != std::string::npos);
  // viewBox in image pixels, so boxes are drawn in image coordinates; the display size is scaled.
  CHECK(html.find("width=\"160.00\" height=\"80.00\" viewBox=\"0 0 200 100\"") != std::string::npos);
  CHECK(html.find("viewBox=\"0 0 128 128\"") != std::string::npos);  // unknown size: 128 x 128
  CHECK(html.find("width=\"80.00\" height=\"160.00\" viewBox=\"0 0 50 100\"") != std::string::npos);
  CHECK(html.find("<rect x=\"10.00\" y=\"20.00\" width=\"50.00\" height=\"40.00\" fill=\"none\"") != std::string::npos);
  CHECK(html.find("<rect x=\"100.00\" y=\"0.00\" width=\"30.00\" height=\"30.00\" fill=\"none\"") != std::string::npos);
  CHECK(html.find(">kept 0.91</text>") != std::string::npos);
  CHECK(html.find(">0.26</text>") != std::string::npos);
  CHECK(count(html, "class=\"ad query\"") == 1);
  CHECK(count(html, "class=\"ad match\"") == 2);
  CHECK(count(html, "class=\"ad miss\"") == 1);
  CHECK(html.find("#2 other category") != std::string::npos);
  // The page's CSS gives the borders their colours.
  const std::string page = report::render_report(report::Report{"t", {}, {}, {}, {q}});
  CHECK(page.find("figure.match svg { border-color: #2e9d3a; }") != std::string::npos);
  CHECK(page.find("figure.miss svg { border-color: #d32f2f; }") != std::string::npos);
}

TEST_CASE("cli/report_html: write_report writes the page atomically and leaves no temporary") {
  testing::TempDir dir("simad_test_report_html");
  const fs::path path = dir.path / "report.html";
  const report::Report r = report_with("run 1");
  report::write_report(path.string(), r);
  auto read = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  CHECK(read(path) == report::render_report(r));
  CHECK(names(dir.path) == std::vector<std::string>{"report.html"});
  // Rewriting replaces the page, still with nothing beside it.
  const report::Report r2 = report_with("run 2");
  report::write_report(path.string(), r2);
  CHECK(read(path) == report::render_report(r2));
  CHECK(names(dir.path) == std::vector<std::string>{"report.html"});
  // A folder that does not exist: an error naming the file, nothing written.
  CHECK_THROWS_WITH_AS(report::write_report((dir.path / "missing" / "report.html").string(), r),
                       doctest::Contains("report.html"), Error);
  CHECK(names(dir.path) == std::vector<std::string>{"report.html"});
  // The whole page is well formed.
  std::string e;
  check_markup(read(path), e);
  CHECK(e.empty());
}

}  // namespace SIMAD_TEST_FILE_ID
