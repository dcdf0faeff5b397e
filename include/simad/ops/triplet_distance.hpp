// simad/ops/triplet_distance.hpp: the distance of the batch-hard triplet loss, shared by the op
// (ops/triplet.hpp) and its reference (ops/reference/triplet.hpp), so that a call written for one
// compiles unchanged against the other.
#pragma once

namespace simad::ops {

enum class TripletDistance {
  Squared,    // ||a - x||^2
  Euclidean,  // ||a - x||
};

}  // namespace simad::ops
