// simad/simad.hpp: everything in one include. Prefer the specific headers in your own code: they
// say what a file uses.
#pragma once

#include "simad/core/device.hpp"
#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
