// simad/train/adam_options.hpp: Adam's options and weight-decay mode, shared by the optimizer
// (train/optimizer.hpp) and its reference (ops/reference/adam.hpp), so that a call written for one
// compiles unchanged against the other.
#pragma once

#include <cmath>

#include "simad/core/error.hpp"

namespace simad::train {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled
};

enum class WeightDecay {
  l2,         // torch.optim.Adam
  decoupled,  // torch.optim.AdamW
};

inline void check_adam_options(const AdamOptions& o, const char* who) {
  SIMAD_CHECK(std::isfinite(o.lr) && o.lr >= 0.0, who, ": invalid learning rate ", o.lr);
  SIMAD_CHECK(std::isfinite(o.eps) && o.eps >= 0.0, who, ": invalid eps ", o.eps);
  SIMAD_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, who, ": invalid beta1 ", o.beta1, " (expected [0, 1))");
  SIMAD_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, who, ": invalid beta2 ", o.beta2, " (expected [0, 1))");
  SIMAD_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, who, ": invalid weight_decay ",
              o.weight_decay);
}

}  // namespace simad::train
