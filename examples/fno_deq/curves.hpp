// SPDX-License-Identifier: Apache-2.0
// The FNO-DEQ example's training curves: each epoch's train and test relative L2 (the paper's
// claim that the weight-tied and equilibrium models reach a lower test error in fewer epochs
// is read off them). A model's curve is a small CSV: kept in its checkpoint slot, so that a
// protocol trained in pieces keeps its whole history, and written as <out>/curves_<key>.csv
// after training. curves.svg draws every curve file of the output folder that belongs to the
// same run settings (the protocol trains each model in a process of its own).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/core/error.hpp"

namespace fno_deq {

/// One epoch of training: the mean train relative L2 over its batches, the test relative L2
/// and (DEQ) the relative residual when the epoch was evaluated (NaN otherwise), and its
/// training seconds.
struct epoch_record {
  int epoch = 0;
  double train = NAN, test = NAN, seconds = 0, residual = NAN;
};

inline constexpr const char* curve_columns = "epoch,train_rel_l2,test_rel_l2,train_s,residual";

/// A curve file: the run settings it belongs to, the model, and its epochs.
struct curve {
  std::string settings, key, name;
  std::vector<epoch_record> epochs;
};

namespace curves_detail {
inline std::string number(double v) {
  if (std::isnan(v)) return "nan";
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
inline std::string escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '&')
      o += "&amp;";
    else if (ch == '<')
      o += "&lt;";
    else if (ch == '>')
      o += "&gt;";
    else if (ch == '"')
      o += "&quot;";
    else
      o += ch;
  }
  return o;
}
inline std::string fixed(double v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
/// 1, 2, 5 × 10^k: the smallest such step giving at most `most` intervals over `span`.
inline double nice_step(double span, int most) {
  double step = std::pow(10.0, std::floor(std::log10(std::max(span, 1e-300) / most)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (span / (step * m) <= most) return step * m;
  return step * 10;
}

/// A log-scale y axis over [lo, hi]: within three decades from the largest 1, 2, 5 × 10^k at or
/// below lo to the smallest at or above hi, a line at each; wider, whole decades.
inline std::vector<double> log_ticks(double lo, double hi) {
  if (!(lo <= hi)) lo = 0.01, hi = 1;
  const bool minor = std::log10(hi) - std::log10(lo) <= 3;
  std::vector<double> t;
  for (double d = std::floor(std::log10(lo)) - 1; d <= std::ceil(std::log10(hi)); ++d)
    for (const double m : {1.0, 2.0, 5.0})
      if (m == 1.0 || minor) t.push_back(m * std::pow(10.0, d));
  const auto first = std::upper_bound(t.begin(), t.end(), lo * (1 + 1e-12));
  const auto last = std::lower_bound(t.begin(), t.end(), hi * (1 - 1e-12));
  t = std::vector<double>(first == t.begin() ? first : first - 1,
                          last == t.end() ? last : last + 1);
  if (t.size() < 2) t.push_back(t.back() * 10);
  return t;
}

/// One chart of an SVG: a frame at (left, top) of size (pw, ph), epochs 0 … emax across and a
/// log scale up; `line` draws the values of one field of a curve.
struct panel {
  std::ostringstream& s;
  double left, top, pw, ph;
  int emax;
  std::vector<double> yticks;

  [[nodiscard]] double x(double ep) const { return left + pw * ep / emax; }
  [[nodiscard]] double y(double v) const {
    const double d0 = std::log10(yticks.front()), d1 = std::log10(yticks.back());
    return top + ph * (d1 - std::log10(v)) / (d1 - d0);
  }
  static bool plottable(double v) { return std::isfinite(v) && v > 0; }

  /// Grid, tick labels, frame and the axis labels.
  void axes(const std::string& ylabel, bool xlabel) const {
    s << "<g stroke=\"#ddd\">\n";
    for (const double v : yticks)
      s << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << fixed(y(v), 1)
        << "\" y2=\"" << fixed(y(v), 1) << "\"/>\n";
    const double xstep = std::max(1.0, nice_step(emax, 8));  // whole epochs
    for (double ep = 0; ep <= emax + 1e-9; ep += xstep)
      s << "<line y1=\"" << top << "\" y2=\"" << top + ph << "\" x1=\"" << fixed(x(ep), 1)
        << "\" x2=\"" << fixed(x(ep), 1) << "\"/>\n";
    s << "</g>\n<g fill=\"#333\">\n";
    for (const double v : yticks) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", v);
      s << "<text x=\"" << left - 6 << "\" y=\"" << fixed(y(v) + 4, 1) << "\" text-anchor=\"end\">"
        << b << "</text>\n";
    }
    for (double ep = 0; ep <= emax + 1e-9; ep += xstep)
      s << "<text x=\"" << fixed(x(ep), 1) << "\" y=\"" << top + ph + 18
        << "\" text-anchor=\"middle\">" << ep << "</text>\n";
    if (xlabel)
      s << "<text x=\"" << left + pw / 2 << "\" y=\"" << top + ph + 38
        << "\" text-anchor=\"middle\">epoch</text>\n";
    s << "<text transform=\"translate(18," << top + ph / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(ylabel) << "</text>\n</g>\n"
      << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
  }

  /// The field's values as polylines (a gap at each value that cannot be drawn, unless
  /// `join`: sparse values, such as the test error, are joined), with a dot at each when
  /// `dots`.
  void line(const curve& c, double epoch_record::*field, const std::string& style, bool join,
            const std::string& dots) const {
    std::string pts;
    const auto flush = [&] {
      if (!pts.empty()) s << "<polyline fill=\"none\" " << style << " points=\"" << pts << "\"/>\n";
      pts.clear();
    };
    for (const epoch_record& e : c.epochs) {
      if (!plottable(e.*field)) {
        if (!join) flush();
        continue;
      }
      pts += fixed(x(e.epoch), 1) + "," + fixed(y(e.*field), 1) + " ";
      if (!dots.empty())
        s << "<circle cx=\"" << fixed(x(e.epoch), 1) << "\" cy=\"" << fixed(y(e.*field), 1)
          << "\" r=\"2.5\" fill=\"" << dots << "\"/>\n";
    }
    flush();
  }
};
}  // namespace curves_detail

/// Writes a curve file: "# settings: ...", "# model: key name" lines (when set), the column
/// line, one line per epoch. Throws tessera::io_error naming `path` when it cannot be written.
inline void write_curve(const std::string& path, const curve& c) {
  std::ofstream f(path);
  if (!c.settings.empty()) f << "# settings: " << c.settings << '\n';
  if (!c.key.empty()) f << "# model: " << c.key << ' ' << c.name << '\n';
  f << curve_columns << '\n';
  for (const epoch_record& e : c.epochs)
    f << e.epoch << ',' << curves_detail::number(e.train) << ',' << curves_detail::number(e.test)
      << ',' << curves_detail::number(e.seconds) << ',' << curves_detail::number(e.residual)
      << '\n';
  if (!f.flush()) tessera::throw_io_error("fno_deq curves", path, ": cannot write");
}

namespace curves_detail {
/// A line of a file as a message shows it: at most 60 characters, bytes that are not printable
/// ASCII (a carriage return, binary junk) as \xHH.
inline std::string shown(const std::string& line) {
  std::string o;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (i == 60) return o + "…";
    const auto ch = static_cast<unsigned char>(line[i]);
    if (ch >= 0x20 && ch < 0x7f) {
      o += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(ch));
      o += buf;
    }
  }
  return o;
}
}  // namespace curves_detail

/// Reads a curve file written by write_curve. Every line is checked: the column line, five
/// numbers a line, epochs 1, 2, 3, … in order (a history starts at the first epoch). Throws
/// tessera::io_error naming the file, the line and what is wrong.
inline curve read_curve(const std::string& path) {
  std::ifstream f(path);
  if (!f) tessera::throw_io_error("fno_deq curves", path, ": cannot open the file for reading");
  curve c;
  std::string line;
  int n = 0;
  bool columns = false;
  const auto bad = [&](const std::string& what) {
    tessera::throw_io_error("fno_deq curves", path, ":", n, ": ", what);
  };
  while (std::getline(f, line)) {
    ++n;
    if (!columns) {
      if (line.starts_with("# settings: "))
        c.settings = line.substr(12);
      else if (line.starts_with("# model: ")) {
        const std::string rest = line.substr(9);
        const std::size_t sp = rest.find(' ');
        c.key = rest.substr(0, sp);
        c.name = sp == std::string::npos ? std::string() : rest.substr(sp + 1);
      } else if (line == curve_columns)
        columns = true;
      else
        bad("expected the column line '" + std::string(curve_columns) + "', got '" +
            curves_detail::shown(line) + "'");
      continue;
    }
    epoch_record e;
    std::istringstream in(line);
    std::string field[5];
    int k = 0;
    while (k < 5 && std::getline(in, field[k], ',')) ++k;
    std::string extra;
    if (k != 5 || std::getline(in, extra))
      bad("expected 5 comma-separated fields: '" + curves_detail::shown(line) + "'");
    const auto num = [&](const std::string& s) {
      if (s == "nan") return static_cast<double>(NAN);
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(s, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != s.size()) bad("'" + curves_detail::shown(s) + "' is not a number");
      return v;
    };
    const double ep = num(field[0]), due = static_cast<double>(c.epochs.size() + 1);
    if (ep != due)
      bad("epoch " + field[0] + " where epoch " + std::to_string(c.epochs.size() + 1) + " was due");
    e.epoch = static_cast<int>(due);
    e.train = num(field[1]);
    e.test = num(field[2]);
    e.seconds = num(field[3]);
    e.residual = num(field[4]);
    c.epochs.push_back(e);
  }
  if (n == 0) tessera::throw_io_error("fno_deq curves", path, ": an empty file");
  if (!columns) bad("no column line (a cut file)");
  return c;
}

/// Draws the curves as an SVG chart: epochs across, relative L2 up on a log scale; per model
/// (one colour each) the test error as a solid line with a dot at each evaluated epoch and the
/// train error dashed; a legend with the models' names. When some curve has residuals (the
/// DEQ), a second chart below shows them at the evaluated epochs, in the models' colours (the
/// brief asks that the solver's relative residual stay stable over training). Values that are
/// not finite and positive leave a gap; `subtitle` (the run's settings) goes under the title.
/// Throws tessera::io_error naming `path` when it cannot be written.
inline void write_curves_svg(const std::string& path, const std::vector<curve>& curves,
                             const std::string& title, const std::string& subtitle = "") {
  using namespace curves_detail;
  const double W = 760, left = 72, right = 210, top = 54, ph = 340, rph = 150, gap = 56;
  const double pw = W - left - right;
  int emax = 1;
  double lo = INFINITY, hi = -INFINITY, rlo = INFINITY, rhi = -INFINITY;
  for (const curve& c : curves)
    for (const epoch_record& e : c.epochs) {
      emax = std::max(emax, e.epoch);
      for (const double v : {e.train, e.test})
        if (panel::plottable(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      if (panel::plottable(e.residual))
        rlo = std::min(rlo, e.residual), rhi = std::max(rhi, e.residual);
    }
  const bool residuals = rlo <= rhi;
  const double H = top + ph + (residuals ? gap + rph : 0) + 52;

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << ' ' << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left << "\" y=\"22\" font-size=\"15\">" << escape(title) << "</text>\n"
    << "<text x=\"" << left << "\" y=\"40\" font-size=\"10\" fill=\"#666\">" << escape(subtitle)
    << "</text>\n";
  const panel errors{s, left, top, pw, ph, emax, log_ticks(lo, hi)};
  errors.axes("relative L2 error", !residuals);
  const panel res{s, left, top + ph + gap, pw, rph, emax, log_ticks(rlo, rhi)};
  if (residuals) res.axes("relative residual", true);

  static constexpr const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const curve& c = curves[i];
    const std::string col = colours[i % std::size(colours)];
    s << "<g>\n";
    errors.line(
        c, &epoch_record::train,
        "stroke=\"" + col + "\" stroke-width=\"1.2\" stroke-dasharray=\"5,3\" opacity=\"0.75\"",
        false, "");
    errors.line(c, &epoch_record::test, "stroke=\"" + col + "\" stroke-width=\"2\"", true, col);
    if (residuals)
      res.line(c, &epoch_record::residual, "stroke=\"" + col + "\" stroke-width=\"1.5\"", true,
               col);
    const double ly = top + 8 + 20.0 * static_cast<double>(i), lx = left + pw + 16;
    s << "<line x1=\"" << lx << "\" x2=\"" << lx + 24 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << col << "\" stroke-width=\"2\"/>\n<text x=\"" << lx + 30 << "\" y=\""
      << ly + 4 << "\">" << escape(c.name.empty() ? c.key : c.name) << "</text>\n</g>\n";
  }
  const double ky = top + 8 + 20.0 * static_cast<double>(curves.size()) + 14, kx = left + pw + 16;
  s << "<g stroke=\"#555\" fill=\"#555\">\n<line x1=\"" << kx << "\" x2=\"" << kx + 24 << "\" y1=\""
    << ky << "\" y2=\"" << ky << "\" stroke-width=\"2\"/>\n<text x=\"" << kx + 30 << "\" y=\""
    << ky + 4 << "\" stroke=\"none\">test</text>\n<line x1=\"" << kx << "\" x2=\"" << kx + 24
    << "\" y1=\"" << ky + 20 << "\" y2=\"" << ky + 20 << "\" stroke-dasharray=\"5,3\"/>\n<text x=\""
    << kx + 30 << "\" y=\"" << ky + 24 << "\" stroke=\"none\">train</text>\n</g>\n</svg>\n";
  std::ofstream f(path);
  f << s.str();
  if (!f.flush()) tessera::throw_io_error("fno_deq curves", path, ": cannot write");
}

/// The value of `key=value` in a settings line, or "?".
inline std::string setting(const std::string& settings, const std::string& key) {
  std::istringstream in(settings);
  for (std::string word; in >> word;)
    if (word.starts_with(key + "=")) return word.substr(key.size() + 1);
  return "?";
}

/// Draws dir/curves.svg from the curve files dir/curves_<key>.csv, for `keys` in that order,
/// that belong to `settings` (empty: those of the first file found). Files of other settings,
/// files without an epoch and files that cannot be read are named on stderr and left out.
/// Returns how many curves were drawn; when none is, curves.svg is left as it was. Throws
/// tessera::io_error naming curves.svg when it cannot be written.
inline std::size_t draw_curves(const std::string& dir, const std::vector<std::string>& keys,
                               std::string settings) {
  std::vector<curve> curves;
  for (const std::string& key : keys) {
    const std::string f = dir + "/curves_" + key + ".csv";
    if (!std::filesystem::exists(f)) continue;
    try {
      curve cv = read_curve(f);
      if (cv.epochs.empty()) {
        std::fprintf(stderr, "fno_deq: %s holds no epoch; not drawn\n", f.c_str());
        continue;
      }
      if (settings.empty()) settings = cv.settings;
      if (cv.settings == settings)
        curves.push_back(std::move(cv));
      else
        std::fprintf(stderr, "fno_deq: %s is of other settings (%s); not drawn\n", f.c_str(),
                     cv.settings.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fno_deq: %s; not drawn\n", e.what());
    }
  }
  if (curves.empty()) return 0;  // an empty chart would replace a good one
  const auto v = [&](const char* k) { return setting(settings, k); };
  const std::string title = "Darcy " + v("res") + "×" + v("res") + ", " + v("ntrain") +
                            " train / " + v("ntest") + " test, width " + v("width") + ", modes " +
                            v("modes") + ": relative L2 per epoch";
  write_curves_svg(dir + "/curves.svg", curves, title, settings);
  return curves.size();
}

}  // namespace fno_deq
