// simad/lookalike/xgboost.hpp: a thin RAII wrapper over XGBoost's C API (Debian libxgboost-dev,
// <xgboost/c_api.h>), the user-targeting model of the lookalike experiment (MODELS.md "Lookalike":
// CART trees, max depth 6, eta 0.1, 550 rounds, binary:logistic).
//
// LINKING: this is the only simad header that needs libxgboost. simad.hpp does not include it, and
// the simad::simad target does not link it; CMake targets that include simad/lookalike/xgboost.hpp
// (or lookalike.hpp) link simad::lookalike (pkg-config `xgboost`), e.g. in a consumer project:
//     pkg_check_modules(XGBOOST REQUIRED IMPORTED_TARGET xgboost)
//     target_link_libraries(app PRIVATE simad::simad PkgConfig::XGBOOST)
//
//   xgb::DMatrix train = xgb::DMatrix::from_dense(x.data(), rows, cols);   // NaN = missing
//   train.set_labels(y);                                                   // 0 / 1
//   xgb::Booster model = xgb::Booster::train(train, xgb::Params{});        // 550 rounds
//   std::vector<float> p = model.predict(test);                            // probabilities
//   model.save("model.json");  xgb::Booster again = xgb::Booster::load("model.json");
//
// Every failing call throws simad::Error with XGBoost's own message (XGBGetLastError()).
// Handles are move-only; the destructor frees them.
#pragma once

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::lookalike::xgb {

inline void check(int rc, const std::string& what) {
  if (rc != 0) throw Error("xgboost: " + what + ": " + XGBGetLastError());
}

inline std::string version() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

class DMatrix {
 public:
  DMatrix() = default;
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrix(DMatrix&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  DMatrix& operator=(DMatrix&& o) noexcept {
    if (this != &o) reset(), h_ = std::exchange(o.h_, nullptr);
    return *this;
  }
  ~DMatrix() { reset(); }

  // (rows, cols) row-major floats; `missing` (NaN by default) marks absent values.
  static DMatrix from_dense(const float* data, int64_t rows, int64_t cols,
                            float missing = std::numeric_limits<float>::quiet_NaN()) {
    SIMAD_CHECK(rows >= 0 && cols > 0, "xgboost: a dense matrix needs rows >= 0 and cols > 0");
    DMatrix m;
    check(XGDMatrixCreateFromMat(data, bst_ulong(rows), bst_ulong(cols), missing, &m.h_), "XGDMatrixCreateFromMat");
    return m;
  }

  // CSR: row r holds values[indptr[r] .. indptr[r+1]) at columns indices[...]; absent = missing.
  static DMatrix from_csr(std::span<const size_t> indptr, std::span<const unsigned> indices,
                          std::span<const float> values, int64_t cols) {
    SIMAD_CHECK(!indptr.empty() && indices.size() == values.size() && indptr.back() == values.size(),
                "xgboost: inconsistent CSR arrays");
    DMatrix m;
    check(XGDMatrixCreateFromCSREx(indptr.data(), indices.data(), values.data(), indptr.size(), values.size(),
                                   size_t(cols), &m.h_),
          "XGDMatrixCreateFromCSREx");
    return m;
  }

  void set_labels(std::span<const float> labels) {
    SIMAD_CHECK(int64_t(labels.size()) == rows(), "xgboost: " + std::to_string(labels.size()) + " labels for " +
                                                      std::to_string(rows()) + " rows");
    check(XGDMatrixSetFloatInfo(h_, "label", labels.data(), bst_ulong(labels.size())), "set labels");
  }

  int64_t rows() const {
    bst_ulong n = 0;
    check(XGDMatrixNumRow(h_, &n), "XGDMatrixNumRow");
    return int64_t(n);
  }
  int64_t cols() const {
    bst_ulong n = 0;
    check(XGDMatrixNumCol(h_, &n), "XGDMatrixNumCol");
    return int64_t(n);
  }
  DMatrixHandle handle() const { return h_; }

 private:
  void reset() {
    if (h_) XGDMatrixFree(h_);
    h_ = nullptr;
  }
  DMatrixHandle h_ = nullptr;
};

// The targeting model's parameters: the papers' defaults.
struct Params {
  int max_depth = 6;
  double eta = 0.1;
  int rounds = 550;
  std::string objective = "binary:logistic";
  std::string tree_method = "hist";
  int nthread = 0;  // 0: XGBoost's default (all cores)
  uint64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> extra;  // any other XGBoost parameter
};

class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  Booster(Booster&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Booster& operator=(Booster&& o) noexcept {
    if (this != &o) reset(), h_ = std::exchange(o.h_, nullptr);
    return *this;
  }
  ~Booster() { reset(); }

  bool empty() const { return h_ == nullptr; }
  BoosterHandle handle() const { return h_; }

  // Trains `p.rounds` rounds on `train` (labels set). With `evals`, each round's evaluation line
  // ("[i]\tname-metric:value...", XGBoost's format; eval_metric from p.extra) goes to *eval_log.
  static Booster train(const DMatrix& train, const Params& p,
                       const std::vector<std::pair<std::string, const DMatrix*>>& evals = {},
                       std::vector<std::string>* eval_log = nullptr) {
    Booster b;
    DMatrixHandle d = train.handle();
    check(XGBoosterCreate(&d, 1, &b.h_), "XGBoosterCreate");
    b.set("objective", p.objective);
    b.set("max_depth", std::to_string(p.max_depth));
    b.set("eta", std::to_string(p.eta));
    b.set("tree_method", p.tree_method);
    b.set("seed", std::to_string(p.seed));
    if (p.nthread > 0) b.set("nthread", std::to_string(p.nthread));
    b.set("verbosity", "0");
    for (const auto& [k, v] : p.extra) b.set(k, v);
    std::vector<DMatrixHandle> eval_handles;
    std::vector<const char*> eval_names;
    for (const auto& [name, m] : evals) eval_handles.push_back(m->handle()), eval_names.push_back(name.c_str());
    for (int i = 0; i < p.rounds; ++i) {
      check(XGBoosterUpdateOneIter(b.h_, i, d), "XGBoosterUpdateOneIter (round " + std::to_string(i) + ")");
      if (!evals.empty() && eval_log) {
        const char* line = nullptr;
        check(XGBoosterEvalOneIter(b.h_, i, eval_handles.data(), eval_names.data(), bst_ulong(evals.size()), &line),
              "XGBoosterEvalOneIter");
        eval_log->emplace_back(line);
      }
    }
    return b;
  }

  void set(const std::string& key, const std::string& value) {
    check(XGBoosterSetParam(h_, key.c_str(), value.c_str()), "parameter " + key + "=" + value);
  }

  // Probabilities (binary:logistic), one per row.
  std::vector<float> predict(const DMatrix& m) const {
    SIMAD_CHECK(h_, "xgboost: predict on an empty booster");
    bst_ulong len = 0;
    const float* out = nullptr;
    check(XGBoosterPredict(h_, m.handle(), 0, 0, 0, &len, &out), "XGBoosterPredict");
    return std::vector<float>(out, out + len);
  }

  int rounds() const {
    int n = 0;
    check(XGBoosterBoostedRounds(h_, &n), "XGBoosterBoostedRounds");
    return n;
  }

  // .json: JSON, .ubj: UBJSON (XGBoost picks the format from the extension).
  void save(const std::filesystem::path& path) const {
    check(XGBoosterSaveModel(h_, path.string().c_str()), "save " + path.string());
  }
  static Booster load(const std::filesystem::path& path) {
    SIMAD_CHECK(std::filesystem::exists(path), "xgboost: no model file " + path.string());
    Booster b;
    check(XGBoosterCreate(nullptr, 0, &b.h_), "XGBoosterCreate");
    check(XGBoosterLoadModel(b.h_, path.string().c_str()), "load " + path.string());
    return b;
  }
  // The model as bytes ("json" or "ubj") and back.
  std::vector<char> save_to_buffer(const std::string& format = "ubj") const {
    bst_ulong len = 0;
    const char* buf = nullptr;
    const std::string config = "{\"format\": \"" + format + "\"}";
    check(XGBoosterSaveModelToBuffer(h_, config.c_str(), &len, &buf), "XGBoosterSaveModelToBuffer");
    return std::vector<char>(buf, buf + len);
  }
  static Booster load_from_buffer(std::span<const char> bytes) {
    Booster b;
    check(XGBoosterCreate(nullptr, 0, &b.h_), "XGBoosterCreate");
    check(XGBoosterLoadModelFromBuffer(b.h_, bytes.data(), bst_ulong(bytes.size())), "XGBoosterLoadModelFromBuffer");
    return b;
  }

 private:
  void reset() {
    if (h_) XGBoosterFree(h_);
    h_ = nullptr;
  }
  BoosterHandle h_ = nullptr;
};

}  // namespace simad::lookalike::xgb
