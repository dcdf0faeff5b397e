// simad/simad.hpp: everything in one include. Prefer the specific headers in your own code: they
// say what a file uses.
#pragma once

#include "simad/core/device.hpp"
#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"

#include "simad/ops/activation.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/concat.hpp"
#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/dropout.hpp"
#include "simad/ops/embedding.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/l2norm.hpp"
#include "simad/ops/layernorm.hpp"
#include "simad/ops/linear.hpp"
#include "simad/ops/masked_max.hpp"
#include "simad/ops/reduce.hpp"
#include "simad/ops/softmax.hpp"

// Tensor-level ops that run on the tensors' device (CUDA needs simad::kernels).
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/dispatch/softmax.hpp"

#include "simad/train/optimizer.hpp"
#include "simad/train/param_store.hpp"

#include "simad/io/safetensors.hpp"
#include "simad/text/text.hpp"
#include "simad/data/synthads.hpp"
