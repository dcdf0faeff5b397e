// tests/models/tiny_detector.hpp: a two-scale YOLO detector small enough for the emulated GPU, with random
// weights, and random pictures: what the RegionDetector tests on the CPU (tests/models/test_detector_regions.cpp)
// and on the emulated GPU (tests/cuda/models/test_regions_on_cuda.cpp) run.
#pragma once

#include <cstdint>
#include <utility>

#include "simad/core/rng.hpp"
#include "simad/image/image.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/models/detector_regions.hpp"

namespace simad::testing {

// Two scales (16x16 with 16 channels of hidden map, 32x32 with 8), a 64x64 input.
inline const char* const kTinyDetectorCfg =
    "[net]\nwidth=64\nheight=64\nchannels=3\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=21\nactivation=linear\n\n"
    "[yolo]\nmask=3,4,5\nanchors=11,9, 16,18, 28,12, 23,22, 24,34, 33,27\nclasses=2\nnum=6\n\n"
    "[route]\nlayers=-3\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1\nstride=1\npad=1\nactivation=leaky\n\n"
    "[upsample]\nstride=2\n\n"
    "[route]\nlayers=-1,2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=21\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=11,9, 16,18, 28,12, 23,22, 24,34, 33,27\nclasses=2\nnum=6\n";

inline image::Image random_picture(Rng& r, int w, int h, int channels) {
  image::Image im(w, h, channels);
  for (float& v : im.data) v = float(r.next_below(256)) / 255.0f;
  return im;
}

inline models::RegionDetector tiny_detector(uint64_t seed, models::RegionDetectorOptions o) {
  io::darknet::Config cfg = io::darknet::parse_cfg(kTinyDetectorCfg, "tiny.cfg");
  const io::darknet::Weights w = io::darknet::random_weights(cfg, seed);
  return models::RegionDetector(std::move(cfg), w, "test", o);
}

}  // namespace simad::testing
