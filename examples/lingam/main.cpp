// SPDX-License-Identifier: Apache-2.0
// AcceleratedLiNGAM example: DirectLiNGAM or VarLiNGAM on a CSV file or on generated LiNGAM
// data, on the CPU (OpenMP) or the GPU; writes the order, the adjacency matrix (CSV), a
// Graphviz DOT graph and its PNG rendering, and prints a results table.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu.hpp"
#include "tessera/causal/adjacency.hpp"
#include "tessera/causal/direct_lingam.hpp"
#include "tessera/causal/var_lingam.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/io/csv.hpp"

#if TESSERA_HAS_OPENMP
#include <omp.h>
#endif

#if !defined(TESSERA_LINGAM_WITH_CUDA)
namespace lingam_example {
bool gpu_available() { return false; }
std::string gpu_description() { return ""; }
tessera::causal::ordering_result gpu_causal_order(const tessera::tensor<double>&,
                                                  const tessera::causal::ordering_options&, bool) {
  throw std::runtime_error("this build has no CUDA backend (configure with nvcc present)");
}
}  // namespace lingam_example
#endif

namespace {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;
namespace causal = tessera::causal;

struct options {
  std::string csv;
  std::string header = "auto";
  index_t gen_n = 0, gen_d = 0;
  std::uint64_t seed = 1;
  std::string noise = "uniform";
  std::string method = "direct";
  index_t lags = 1;
  std::string backend = "cpu";
  bool fp64 = false;
  bool mixed = false;
  int threads = 0;
  bool order_only = false;
  bool margins = false;
  bool log_transform = false;
  std::string out = "out/lingam";
  std::string truth_edges;
  double threshold = 0.01;
  index_t bootstrap = 0;
  int repeat = 1;
  std::string name;
};

/// The most --threads (OpenMP starts that many threads, each with its stack).
constexpr int max_threads = 1024;

/// Prints msg and the usage, to stderr with exit status 2 (bad arguments) or, for --help
/// (code 0), to stdout.
[[noreturn]] void usage(const char* msg, int code = 2) {
  std::fprintf(
      code == 0 ? stdout : stderr,
      "lingam: %s\n"
      "usage: lingam (--csv FILE [--header auto|yes|no] | --generate N D [--seed S]\n"
      "              [--noise uniform|laplace|exponential|student]) [--log]\n"
      "              [--method direct|var [--lags P]] [--backend cpu|cuda [--fp64]]\n"
      "              [--mixed-precision] [--threads T] [--order-only] [--margins] [--repeat R]\n"
      "              [--bootstrap K] [--truth-edges FILE] [--threshold W]\n"
      "              [--out DIR] [--name NAME]\n",
      msg);
  std::exit(code);
}

/// The number `text`, the value of option `opt`, at least `lo`; anything else (not a number,
/// trailing characters, out of range) ends in usage() naming both.
template <class N>
N number(const char* opt, const char* text, N lo) {
  const std::string v = text;
  std::size_t used = 0;
  N r{};
  try {
    if constexpr (std::is_floating_point_v<N>)
      r = static_cast<N>(std::stod(v, &used));
    else if constexpr (std::is_unsigned_v<N>)
      r = v.find('-') == v.npos ? static_cast<N>(std::stoull(v, &used)) : N{};
    else {
      const long long x = std::stoll(v, &used);
      if (x > std::numeric_limits<N>::max() || x < std::numeric_limits<N>::min()) used = 0;
      r = static_cast<N>(x);
    }
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !(r >= lo) ||
      (std::is_floating_point_v<N> && !std::isfinite(static_cast<double>(r)))) {
    std::ostringstream m;
    m << opt << " expects a number of at least " << lo << ", got \"" << v << "\"";
    usage(m.str().c_str());
  }
  return r;
}

options parse(int argc, char** argv) {
  options o;
  std::set<std::string> seen;  // the options given, each at most once
  auto need = [&](int& i, int k) {
    const std::string a = argv[i];
    if (i + k >= argc)
      usage((a + (k == 1 ? " needs an argument" : " needs " + std::to_string(k) + " arguments"))
                .c_str());
    for (int j = 1; j <= k; ++j)
      if (argv[i + j][0] == '\0') usage((a + " needs a value, got an empty one").c_str());
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.starts_with("--") && !seen.insert(a).second) usage((a + " is given twice").c_str());
    if (a == "--csv")
      need(i, 1), o.csv = argv[++i];
    else if (a == "--header")
      need(i, 1), o.header = argv[++i];
    else if (a == "--generate")
      need(i, 2), o.gen_n = number<index_t>("--generate N", argv[i + 1], 1),
                  o.gen_d = number<index_t>("--generate D", argv[i + 2], 1), i += 2;
    else if (a == "--seed")
      need(i, 1), o.seed = number<std::uint64_t>("--seed", argv[++i], 0);
    else if (a == "--noise")
      need(i, 1), o.noise = argv[++i];
    else if (a == "--method")
      need(i, 1), o.method = argv[++i];
    else if (a == "--lags")
      need(i, 1), o.lags = number<index_t>("--lags", argv[++i], 1);
    else if (a == "--backend")
      need(i, 1), o.backend = argv[++i];
    else if (a == "--fp64")
      o.fp64 = true;
    else if (a == "--mixed-precision")
      o.mixed = true;
    else if (a == "--threads")
      need(i, 1), o.threads = number<int>("--threads", argv[++i], 0);
    else if (a == "--order-only")
      o.order_only = true;
    else if (a == "--margins")
      o.margins = true;
    else if (a == "--log")
      o.log_transform = true;
    else if (a == "--out")
      need(i, 1), o.out = argv[++i];
    else if (a == "--truth-edges")
      need(i, 1), o.truth_edges = argv[++i];
    else if (a == "--threshold")
      need(i, 1), o.threshold = number<double>("--threshold", argv[++i], 0.0);
    else if (a == "--bootstrap")
      need(i, 1), o.bootstrap = number<index_t>("--bootstrap", argv[++i], 0);
    else if (a == "--repeat")
      need(i, 1), o.repeat = number<int>("--repeat", argv[++i], 1);
    else if (a == "--name")
      need(i, 1), o.name = argv[++i];
    else if (a == "--help" || a == "-h") {
      usage("DirectLiNGAM / VAR-LiNGAM causal discovery; see examples/lingam/README.md", 0);
    } else
      usage(("unknown argument " + a).c_str());
  }
  const auto one_of = [](const char* opt, const std::string& v, const char* allowed,
                         std::initializer_list<const char*> values) {
    for (const char* x : values)
      if (v == x) return;
    usage((std::string(opt) + " must be " + allowed + " (got \"" + v + "\")").c_str());
  };
  one_of("--header", o.header, "auto, yes or no", {"auto", "yes", "no"});
  one_of("--noise", o.noise, "uniform, laplace, exponential or student",
         {"uniform", "laplace", "exponential", "student"});
  one_of("--method", o.method, "direct or var", {"direct", "var"});
  one_of("--backend", o.backend, "cpu or cuda", {"cpu", "cuda"});
  if (o.csv.empty() == (o.gen_n == 0)) usage("give exactly one of --csv and --generate");
  if (o.threads > max_threads) {
    std::ostringstream m;
    m << "--threads must be at most " << max_threads << " (got " << o.threads << ")";
    usage(m.str().c_str());
  }
  // The output folder is --out/--name: a name is one plain path component.
  if (!o.name.empty() && (o.name.find('/') != std::string::npos || o.name == "." || o.name == ".."))
    usage(("--name must be a plain file name, without '/' and not . or .. (got \"" + o.name + "\")")
              .c_str());
  // An option the chosen path does not use is refused rather than silently ignored.
  const auto refuse = [&](const char* opt, bool ignored, const char* why) {
    if (ignored && seen.count(opt) > 0) usage((std::string(opt) + " " + why).c_str());
  };
  refuse("--noise", !o.csv.empty(), "shapes generated data only (--generate), not --csv");
  refuse("--header", o.csv.empty(), "applies to --csv only");
  refuse("--lags", o.method != "var", "applies to --method var only");
  refuse("--fp64", o.backend != "cuda", "applies to --backend cuda only (the CPU is FP64)");
  refuse("--fp64", o.mixed, "and --mixed-precision contradict each other");
  refuse("--margins", o.method != "direct", "reports DirectLiNGAM's ordering (--method direct)");
  refuse("--threshold", o.order_only, "selects edges, which --order-only does not estimate");
  refuse("--seed", !o.csv.empty() && o.bootstrap == 0,
         "draws generated data or bootstrap samples; with --csv it needs --bootstrap");
  // Options the chosen path would ignore are refused rather than silently dropped.
  if (o.method == "var" && (o.backend != "cpu" || o.bootstrap > 0 || o.repeat > 1 || o.order_only))
    usage(
        "--method var runs on the CPU, fits the whole model once: it takes none of --backend "
        "cuda, --bootstrap, --repeat, --order-only");
  if (o.order_only && !o.truth_edges.empty())
    usage("--truth-edges scores the estimated edges, which --order-only does not estimate");
  if (o.name.empty())
    o.name = o.csv.empty()
                 ? "generated_n" + std::to_string(o.gen_n) + "_d" + std::to_string(o.gen_d)
                 : std::filesystem::path(o.csv).stem().string();
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// LiNGAM data as the brief's §4: a random DAG over a random permutation, each forward pair an
// edge with probability 2/(d-1), weights ±U[0.5, 2], unit-variance non-Gaussian noise.
struct generated {
  tensor<double> X;
  tensor<double> B;  // [effect, cause]
};

generated generate(index_t n, index_t d, std::uint64_t seed, const std::string& noise) {
  tessera::generator g(seed);
  const tensor<double> u = tessera::rand<double>({n, d}, g);
  tensor<double> e(shape_t{n, d});
  for (index_t i = 0; i < n * d; ++i) {
    const double v = u.data()[i];
    double x;
    if (noise == "uniform")
      x = std::sqrt(3.0) * (2.0 * v - 1.0);
    else if (noise == "laplace")
      x = (v < 0.5 ? std::log(2.0 * v + 1e-300) : -std::log(2.0 - 2.0 * v + 1e-300)) /
          std::sqrt(2.0);
    else if (noise == "exponential")
      x = -std::log(1.0 - v) - 1.0;
    else if (noise == "student") {  // t with 5 degrees of freedom, by inversion of a ratio
      const tensor<double> z = tessera::randn<double>({6}, g);
      double chi = 0;
      for (int k = 1; k < 6; ++k) chi += z(k) * z(k);
      x = z(0) / std::sqrt(chi / 5.0) / std::sqrt(5.0 / 3.0);
    } else {
      usage("--noise must be uniform, laplace, exponential or student");
    }
    e.data()[i] = x;
  }
  // Random causal permutation: perm[k] = the variable at position k.
  const tensor<double> key = tessera::rand<double>({d}, g);
  std::vector<index_t> perm(static_cast<std::size_t>(d));
  for (index_t k = 0; k < d; ++k) perm[static_cast<std::size_t>(k)] = k;
  std::sort(perm.begin(), perm.end(), [&](index_t a, index_t b) { return key(a) < key(b); });
  const tensor<double> p = tessera::rand<double>({d, d}, g);
  const tensor<double> w = tessera::rand<double>({d, d}, g, 0.5, 2.0);
  const tensor<double> s = tessera::rand<double>({d, d}, g);
  generated out{tensor<double>(shape_t{n, d}), tessera::zeros<double>({d, d})};
  for (index_t k = 0; k < d; ++k)
    for (index_t q = 0; q < k; ++q)
      if (p(k, q) < 2.0 / static_cast<double>(std::max<index_t>(d - 1, 1)))
        out.B(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(q)]) =
            (s(k, q) < 0.5 ? -1.0 : 1.0) * w(k, q);
  // Each variable's parents (about two per variable), so generating d = 2000 takes O(n·edges).
  std::vector<std::vector<index_t>> parents(static_cast<std::size_t>(d));
  for (index_t k = 0; k < d; ++k) {
    const index_t j = perm[static_cast<std::size_t>(k)];
    for (index_t q = 0; q < k; ++q) {
      const index_t c = perm[static_cast<std::size_t>(q)];
      if (out.B(j, c) != 0.0) parents[static_cast<std::size_t>(j)].push_back(c);
    }
  }
  for (index_t t = 0; t < n; ++t)
    for (index_t k = 0; k < d; ++k) {
      const index_t j = perm[static_cast<std::size_t>(k)];
      double v = e(t, j);
      for (index_t c : parents[static_cast<std::size_t>(j)]) v += out.B(j, c) * out.X(t, c);
      out.X(t, j) = v;
    }
  return out;
}

// Reference edges "cause,effect" by column name or index (header line optional).
std::vector<std::pair<index_t, index_t>> read_edges(const std::string& path,
                                                    const std::vector<std::string>& names) {
  std::ifstream f(path);
  if (!f) throw tessera::io_error("cannot open truth edges file " + path);
  std::vector<std::pair<index_t, index_t>> edges;
  std::string line;
  int lineno = 0;
  auto lookup = [&](std::string s) -> index_t {
    s.erase(std::remove(s.begin(), s.end(), '"'), s.end());
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == s) return static_cast<index_t>(k);
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (end != s.c_str() && *end == '\0' && v >= 0 && v < static_cast<long>(names.size())) return v;
    return -1;
  };
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto comma = line.find(',');
    if (comma == std::string::npos)
      throw tessera::io_error(path + ":" + std::to_string(lineno) + ": expected 'cause,effect'");
    const index_t c = lookup(line.substr(0, comma)), e = lookup(line.substr(comma + 1));
    const auto where = [&] { return path + ":" + std::to_string(lineno) + ": "; };
    if (c < 0 || e < 0) {
      if (lineno == 1) {  // a header ("cause,effect" silently), or a typo: say which
        std::string lower = line;
        while (!lower.empty() && (lower.back() == '\r' || lower.back() == ' ')) lower.pop_back();
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower != "cause,effect")
          std::fprintf(
              stderr,
              "lingam: %s: line 1 '%s' is not an edge of known variables; read as a header\n",
              path.c_str(), line.c_str());
        continue;
      }
      throw tessera::io_error(where() + "unknown variable in '" + line + "'");
    }
    if (c == e)
      throw tessera::io_error(where() + "'" + line + "' is an edge from a variable to itself");
    for (const auto& [pc, pe] : edges)
      if (pc == c && pe == e)
        throw tessera::io_error(where() + "edge '" + line + "' is listed twice");
    edges.push_back({c, e});
  }
  if (f.bad()) throw tessera::io_error(path + ": read error");
  if (edges.empty()) throw tessera::io_error(path + ": no edge (an empty file?)");
  return edges;
}

/// Throws tessera::io_error naming `path` when `f`, the file just written there, failed (a
/// directory in the way, a full disk).
void written(std::ofstream& f, const std::filesystem::path& path) {
  if (!f.flush()) throw tessera::io_error(path.string() + ": cannot write");
}

/// Runs Graphviz's `dot -Tpng DOT -o PNG` without a shell (the paths come from --out, --name
/// or the CSV file's name and may hold any character), its stderr discarded. Returns its exit
/// status, 127 when it could not be started (not installed), or 128 + the signal that ended it.
int run_dot(const std::string& dot, const std::string& png) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string a0 = "dot", a1 = "-Tpng", a2 = dot, a3 = "-o", a4 = png;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string dot_id(const std::string& s) {
  std::string r = "\"";
  for (char ch : s) r += ch == '"' ? std::string("\\\"") : std::string(1, ch);
  return r + "\"";
}

/// Writes the (d, d) matrix M as adjacency.csv's layout: rows effects, columns causes.
void write_matrix(const std::filesystem::path& path, const std::vector<std::string>& names,
                  const tensor<double>& M) {
  const index_t d = M.size(0);
  std::ofstream f(path);
  f << "effect\\cause";
  for (index_t j = 0; j < d; ++j) f << "," << names[static_cast<std::size_t>(j)];
  f << "\n";
  char buf[64];
  for (index_t i = 0; i < d; ++i) {
    f << names[static_cast<std::size_t>(i)];
    for (index_t j = 0; j < d; ++j) {
      std::snprintf(buf, sizeof buf, ",%.10g", M(i, j));
      f << buf;
    }
    f << "\n";
  }
  written(f, path);
}

/// Writes order.txt, adjacency.csv (B), VarLiNGAM's lag<τ>.csv (B_τ of `lagged`, τ ≥ 1),
/// graph.dot and its PNG.
void write_outputs(const options& o, const std::vector<std::string>& names,
                   const std::vector<index_t>& order, const tensor<double>& B,
                   const tensor<double>& lagged, const tensor<double>* probabilities,
                   std::string& png_note) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(o.out) / o.name;
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "order.txt");
    for (std::size_t k = 0; k < order.size(); ++k)
      f << names[static_cast<std::size_t>(order[k])] << (k + 1 < order.size() ? " " : "\n");
    written(f, dir / "order.txt");
  }
  if (!B.defined()) return;
  const index_t d = B.size(0);
  write_matrix(dir / "adjacency.csv", names, B);
  if (lagged.defined())
    for (index_t tau = 1; tau < lagged.size(0); ++tau)
      write_matrix(dir / ("lag" + std::to_string(tau) + ".csv"), names,
                   lagged.select(0, tau).clone());
  {
    std::ofstream f(dir / "graph.dot");
    f << "digraph lingam {\n  rankdir=TB;\n  node [shape=ellipse, fontname=\"Helvetica\"];\n";
    for (index_t j = 0; j < d; ++j)
      f << "  " << dot_id(names[static_cast<std::size_t>(j)]) << ";\n";
    char buf[64];
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j)
        if (std::abs(B(i, j)) > o.threshold) {
          if (probabilities)
            std::snprintf(buf, sizeof buf, "%.2f (p=%.2f)", B(i, j), (*probabilities)(i, j));
          else
            std::snprintf(buf, sizeof buf, "%.2f", B(i, j));
          f << "  " << dot_id(names[static_cast<std::size_t>(j)]) << " -> "
            << dot_id(names[static_cast<std::size_t>(i)]) << " [label=\"" << buf << "\"];\n";
        }
    f << "}\n";
    written(f, dir / "graph.dot");
  }
  const std::string png = (dir / "graph.png").string();
  switch (run_dot((dir / "graph.dot").string(), png)) {
    case 0:
      png_note = png;
      break;
    case 127:
      png_note = "not rendered (Graphviz 'dot' not found; scripts/install-deps installs it)";
      break;
    default:
      png_note = "not rendered ('dot' failed on " + (dir / "graph.dot").string() + ")";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
#if TESSERA_HAS_OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  try {
    // ---- data
    tensor<double> X, B_true;
    std::vector<std::string> names;
    if (!o.csv.empty()) {
      const auto h = o.header == "yes"  ? tessera::io::csv_header::present
                     : o.header == "no" ? tessera::io::csv_header::absent
                                        : tessera::io::csv_header::detect;
      auto table = tessera::io::read_csv<double>(o.csv, h);
      X = table.data;
      names = table.columns;
      if (!table.has_header)
        for (std::size_t k = 0; k < names.size(); ++k) names[k] = "x" + std::to_string(k);
    } else {
      generated g = generate(o.gen_n, o.gen_d, o.seed, o.noise);
      X = g.X;
      B_true = g.B;
      for (index_t k = 0; k < o.gen_d; ++k) names.push_back("x" + std::to_string(k));
    }
    const index_t n = X.size(0), d = X.size(1);
    // Values the methods cannot use, named by row and column before any work (the library
    // names them by 0-based index only).
    const std::string source = o.csv.empty() ? std::string("the generated data") : o.csv;
    const auto cell = [&](index_t i, index_t j) {
      std::ostringstream m;
      m << source << ": data row " << i + 1 << ", column '" << names[static_cast<std::size_t>(j)]
        << "'";
      return m.str();
    };
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) {
        double& v = X(i, j);
        if (!std::isfinite(v))
          throw tessera::invalid_argument(cell(i, j) + " is " +
                                          (std::isnan(v) ? "nan"
                                           : v > 0       ? "inf"
                                                         : "-inf") +
                                          ": every value must be finite");
        if (o.log_transform) {
          if (!(v > 0)) {
            std::ostringstream m;
            m << "--log needs positive data; " << cell(i, j) << " is " << v;
            throw tessera::invalid_argument(m.str());
          }
          v = std::log(v);
        }
      }
    for (index_t j = 0; j < d && n > 0; ++j) {
      bool constant = true;
      for (index_t i = 1; i < n && constant; ++i) constant = X(i, j) == X(0, j);
      if (constant) {
        std::ostringstream m;
        m << source << ": column '" << names[static_cast<std::size_t>(j)] << "' is constant ("
          << X(0, j) << " in every row): it has no variance to order by";
        throw tessera::invalid_argument(m.str());
      }
    }
    // The reference edges are read before the fit, so that a bad file costs no fit.
    std::vector<std::pair<index_t, index_t>> truth;
    if (!o.truth_edges.empty()) truth = read_edges(o.truth_edges, names);
    std::printf(
        "lingam: %s, n = %ld samples, d = %ld variables, method %s, backend %s%s, %d "
        "thread(s)\n",
        o.name.c_str(), static_cast<long>(n), static_cast<long>(d), o.method.c_str(),
        o.backend.c_str(),
        o.backend == "cuda" ? (o.fp64 ? " (FP64)" : " (FP32 transcendentals)")
                            : (o.mixed ? " (mixed precision)" : " (FP64)"),
        threads);

    causal::ordering_options oo;
    oo.mixed_precision = o.mixed;
    oo.record_scores = o.margins;
    auto last = std::chrono::steady_clock::now();
    const auto start = last;
    oo.progress = [&](index_t done, index_t total) {
      if (total >= 50 && (seconds_since(last) > 2.0 || done == total)) {
        last = std::chrono::steady_clock::now();
        std::printf("  ordering: %ld / %ld variables, %.1f s\n", static_cast<long>(done),
                    static_cast<long>(total), seconds_since(start));
        std::fflush(stdout);
      }
    };

    std::vector<index_t> order;
    tensor<double> B;
    tensor<double> lagged;  // VarLiNGAM B1..Bp
    double t_order = 0, t_adj = 0, t_order_cpu = 0, t_adj_cpu = 0;
    tensor<double> probs;
    if (o.method == "direct") {
      causal::ordering_result recorded;  // the last run's scores (--margins)
      auto run_order = [&](const tensor<double>& data, const causal::ordering_options& opt) {
        recorded = o.backend == "cuda" ? lingam_example::gpu_causal_order(data, opt, o.fp64)
                                       : causal::causal_order(data, opt);
        return recorded.order;
      };
      if (o.backend == "cuda") {
        if (!lingam_example::gpu_available())
          throw std::runtime_error("--backend cuda: no CUDA device available");
        // CUDA context and cuBLAS start-up on a small slice, outside the timed ordering.
        const auto tw = std::chrono::steady_clock::now();
        const index_t nw = std::min<index_t>(n, 256), dw = std::min<index_t>(d, 4);
        tensor<double> small(shape_t{nw, dw});
        for (index_t i = 0; i < nw; ++i)
          for (index_t j = 0; j < dw; ++j) small(i, j) = X(i, j);
        run_order(small, causal::ordering_options{});
        std::printf("  device: %s; warm-up %.3f s (not timed below)\n",
                    lingam_example::gpu_description().c_str(), seconds_since(tw));
      }
      // --repeat R: R timed orderings (which must agree); the median time is reported.
      std::vector<double> times;
      const std::clock_t c0 = std::clock();
      for (int rep = 0; rep < o.repeat; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<index_t> r = run_order(X, oo);
        times.push_back(seconds_since(t0));
        if (rep > 0 && r != order)
          throw std::runtime_error("--repeat: the orderings of one data set differ");
        order = std::move(r);
      }
      t_order_cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / o.repeat;
      if (o.repeat > 1) {
        std::printf("  ordering times:");
        for (double t : times) std::printf(" %.4f", t);
        std::printf(" s\n");
      }
      if (o.margins) {
        // The step whose two best candidates are closest (lingam takes the largest M): how much
        // score error would change the order. Printed with that step's score range.
        double best_gap = INFINITY, m1 = 0, range = 0;
        std::size_t best_step = 0;
        index_t ca = -1, cb = -1;
        // Every step's two best candidates and their gap, for comparing runs step by step.
        const std::filesystem::path mdir = std::filesystem::path(o.out) / o.name;
        std::filesystem::create_directories(mdir);
        std::ofstream mcsv(mdir / "margins.csv");
        mcsv << "step,first,second,M_first,M_second,gap\n";
        mcsv.precision(17);
        for (std::size_t st = 0; st < recorded.scores.size(); ++st) {
          const std::vector<double>& sc = recorded.scores[st];
          if (sc.size() < 2) continue;
          std::size_t i1 = 0, i2 = 1;
          if (sc[i2] > sc[i1]) std::swap(i1, i2);
          for (std::size_t k = 2; k < sc.size(); ++k) {
            if (sc[k] > sc[i1]) {
              i2 = i1;
              i1 = k;
            } else if (sc[k] > sc[i2]) {
              i2 = k;
            }
          }
          mcsv << st + 1 << ',' << names[static_cast<std::size_t>(recorded.candidates[st][i1])]
               << ',' << names[static_cast<std::size_t>(recorded.candidates[st][i2])] << ','
               << sc[i1] << ',' << sc[i2] << ',' << sc[i1] - sc[i2] << '\n';
          if (sc[i1] - sc[i2] < best_gap) {
            best_gap = sc[i1] - sc[i2], m1 = sc[i1], best_step = st;
            range = sc[i1] - *std::min_element(sc.begin(), sc.end());
            ca = recorded.candidates[st][i1], cb = recorded.candidates[st][i2];
          }
        }
        written(mcsv, mdir / "margins.csv");
        if (ca >= 0)
          std::printf(
              "  smallest margin: step %zu, %s (M = %.10g) over %s by %.3g (scores of "
              "the step span %.3g)\n",
              best_step + 1, names[static_cast<std::size_t>(ca)].c_str(), m1 + 0.0,  // no -0
              names[static_cast<std::size_t>(cb)].c_str(), best_gap, range);
      }
      std::sort(times.begin(), times.end());
      t_order = times.size() % 2 ? times[times.size() / 2]
                                 : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
      auto t0 = std::chrono::steady_clock::now();
      if (!o.order_only) {
        t0 = std::chrono::steady_clock::now();
        const std::clock_t ca = std::clock();
        B = causal::estimate_adjacency(X, order);
        t_adj = seconds_since(t0);
        t_adj_cpu = static_cast<double>(std::clock() - ca) / CLOCKS_PER_SEC;
      }
      if (o.bootstrap > 0) {
        t0 = std::chrono::steady_clock::now();
        const auto bs = causal::bootstrap(X, o.bootstrap, oo, o.seed);
        probs = bs.edge_probabilities(o.threshold);
        std::printf("  bootstrap: %ld replicates in %.2f s\n", static_cast<long>(o.bootstrap),
                    seconds_since(t0));
      }
    } else {
      causal::var_lingam_options vo;
      vo.lags = o.lags;
      vo.ordering = oo;
      const auto t0 = std::chrono::steady_clock::now();
      const auto r = causal::var_lingam(X, vo);
      t_order = seconds_since(t0);
      order = r.order;
      B = r.adjacency.select(0, 0).clone();
      lagged = r.adjacency;
      std::printf("  VAR lag chosen: %ld\n", static_cast<long>(r.lags));
    }

    std::string png;
    write_outputs(o, names, order, B, lagged, probs.defined() ? &probs : nullptr, png);

    // ---- report
    std::printf("\norder:");
    for (index_t v : order) std::printf(" %s", names[static_cast<std::size_t>(v)].c_str());
    std::printf("\n");
    if (B.defined()) {
      std::printf("\nedges (|B| > %g), cause -> effect: weight\n", o.threshold);
      for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j < d; ++j)
          if (std::abs(B(i, j)) > o.threshold)
            std::printf("  %s -> %s: %.3f\n", names[static_cast<std::size_t>(j)].c_str(),
                        names[static_cast<std::size_t>(i)].c_str(), B(i, j));
    }
    if (lagged.defined())
      for (index_t tau = 1; tau < lagged.size(0); ++tau) {
        std::printf("lag %ld edges (|B| > %g):\n", static_cast<long>(tau), o.threshold);
        for (index_t i = 0; i < d; ++i)
          for (index_t j = 0; j < d; ++j)
            if (std::abs(lagged(tau, i, j)) > o.threshold)
              std::printf("  %s(t-%ld) -> %s(t): %.3f\n",
                          names[static_cast<std::size_t>(j)].c_str(), static_cast<long>(tau),
                          names[static_cast<std::size_t>(i)].c_str(), lagged(tau, i, j));
      }

    std::printf("\n| quantity | value |\n|---|---|\n");
    std::printf("| data | %s (n = %ld, d = %ld) |\n", o.name.c_str(), static_cast<long>(n),
                static_cast<long>(d));
    std::printf("| causal order time | %.3f s (%s, %d thread(s)) |\n", t_order, o.backend.c_str(),
                threads);
    if (o.method == "direct")
      std::printf("| causal order CPU time | %.3f s (process, all threads) |\n", t_order_cpu);
    if (o.method == "direct" && !o.order_only) {
      std::printf("| adjacency (adaptive lasso) time | %.3f s |\n", t_adj);
      std::printf("| adjacency CPU time | %.3f s (process, all threads) |\n", t_adj_cpu);
    }
    if (B_true.defined()) {
      std::vector<index_t> pos(static_cast<std::size_t>(d));
      for (index_t k = 0; k < d; ++k)
        pos[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = k;
      index_t edges = 0, violations = 0;
      for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j < d; ++j)
          if (B_true(i, j) != 0.0) {
            ++edges;
            violations += pos[static_cast<std::size_t>(j)] > pos[static_cast<std::size_t>(i)];
          }
      std::printf("| order violations (true edges ordered effect-first) | %ld / %ld |\n",
                  static_cast<long>(violations), static_cast<long>(edges));
      if (B.defined()) {
        index_t tp = 0, fp = 0, fn = 0;
        double max_err = 0;
        for (index_t i = 0; i < d; ++i)
          for (index_t j = 0; j < d; ++j) {
            const bool t = B_true(i, j) != 0.0, e = std::abs(B(i, j)) > o.threshold;
            tp += t && e;
            fp += !t && e;
            fn += t && !e;
            if (t) max_err = std::max(max_err, std::abs(B(i, j) - B_true(i, j)));
          }
        std::printf("| edges: true positives / false positives / missed | %ld / %ld / %ld |\n",
                    static_cast<long>(tp), static_cast<long>(fp), static_cast<long>(fn));
        std::printf("| largest weight error on true edges | %.3f |\n", max_err);
      }
    }
    if (!o.truth_edges.empty() && B.defined()) {
      const auto& ref = truth;
      index_t tp = 0, reversed = 0, found = 0;
      for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j < d; ++j) found += std::abs(B(i, j)) > o.threshold;
      for (const auto& [c, e] : ref) {
        tp += std::abs(B(e, c)) > o.threshold;
        reversed += std::abs(B(c, e)) > o.threshold && !(std::abs(B(e, c)) > o.threshold);
      }
      std::printf("| reference edges recovered (true positives) | %ld / %zu |\n",
                  static_cast<long>(tp), ref.size());
      std::printf("| reference edges found reversed | %ld |\n", static_cast<long>(reversed));
      std::printf("| estimated edges not in the reference (false positives) | %ld of %ld |\n",
                  static_cast<long>(found - tp), static_cast<long>(found));
    }
    std::printf(
        "| outputs | %s/%s/{order.txt,adjacency.csv%s,graph.dot} |\n", o.out.c_str(),
        o.name.c_str(),
        lagged.defined() && lagged.size(0) > 1
            ? (lagged.size(0) > 2 ? ",lag1.csv…lag" + std::to_string(lagged.size(0) - 1) + ".csv"
                                  : std::string(",lag1.csv"))
                  .c_str()
            : "");
    if (B.defined()) std::printf("| graph | %s |\n", png.c_str());
    return 0;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "lingam: error: out of memory: the sizes asked for (--generate N D, --bootstrap "
                 "K, the data) need more memory than this machine gives\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lingam: error: %s\n", e.what());
    return 1;
  }
}
