// tests/nn/tiny_detector.hpp: a tiny YOLOv3-shaped cfg with every trainable layer type
// (conv + batch norm + leaky, maxpool, route, upsample, shortcut, two [yolo] layers) and
// synthetic detection batches (coloured rectangles on grey), for the detector training tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/rng.hpp"
#include "testing.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/nn/yolo_loss.hpp"

namespace simad::testing {

// Input w x h (multiples of 4); 2 classes; anchors in network pixels for a 16-pixel input, scaled.
inline io::darknet::Config tiny_detector_cfg(int w, int h, int batch = 2) {
  const double s = double(std::max(w, h)) / 16.0;
  std::string anchors;
  for (double a : {2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 7.0, 9.0, 10.0, 8.0, 14.0, 13.0}) {
    if (!anchors.empty()) anchors.push_back(',');
    anchors.append(std::to_string(a * s));
  }
  const std::string text = "[net]\nbatch=" + std::to_string(batch) + "\nwidth=" + std::to_string(w) +
                           "\nheight=" + std::to_string(h) +
                           "\nchannels=3\nlearning_rate=0.01\nmomentum=0.9\ndecay=0.0005\nburn_in=0\n"
                           "policy=steps\nsteps=1000\nscales=.1\n"
                           // 0: 4 x h x w
                           "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                           // 1: 4 x h/2
                           "[maxpool]\nsize=2\nstride=2\n"
                           // 2, 3: 6 x h/2
                           "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                           "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=1\nstride=1\npad=1\nactivation=leaky\n"
                           // 4: shortcut of 3 and 2
                           "[shortcut]\nfrom=-2\nactivation=linear\n"
                           // 5: stride-1 maxpool (Darknet padding), 6 x h/2
                           "[maxpool]\nsize=2\nstride=1\n"
                           // 6, 7: head 1
                           "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=21\nactivation=linear\n"
                           "[yolo]\nmask=3,4,5\nanchors=" + anchors + "\nclasses=2\nnum=6\nignore_thresh=.7\ntruth_thresh=1\n"
                           // 8: route back to 4; 9: 1x1; 10: upsample to h; 11: route with layer 0
                           "[route]\nlayers=-4\n"
                           "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=1\nstride=1\npad=1\nactivation=leaky\n"
                           "[upsample]\nstride=2\n"
                           "[route]\nlayers=-1,0\n"
                           // 12, 13: head 2
                           "[convolutional]\nsize=3\nstride=1\npad=1\nfilters=21\nactivation=linear\n"
                           "[yolo]\nmask=0,1,2\nanchors=" + anchors + "\nclasses=2\nnum=6\nignore_thresh=.7\ntruth_thresh=1\n";
  return io::darknet::parse_cfg(text, "tiny-detector.cfg");
}

// B images (B, 3, h, w) in [0, 1]: grey with 1-2 filled rectangles; class 0 red-ish, class 1
// blue-ish; truths relative to the input.
inline void synthetic_detection_batch(Rng& rng, int64_t B, int w, int h, std::vector<float>& images,
                                      std::vector<std::vector<nn::YoloTruth>>& truths) {
  images.assign(size_t(B * 3 * w * h), 0.5f);
  truths.assign(size_t(B), {});
  for (int64_t b = 0; b < B; ++b) {
    const int boxes = 1 + int(rng.next_uniform() * 2.0);
    for (int k = 0; k < boxes; ++k) {
      const int cls = int(rng.next_uniform() * 2.0);
      const int bw = std::max(3, int(w * (0.2 + 0.4 * rng.next_uniform()))), bh = std::max(3, int(h * (0.2 + 0.4 * rng.next_uniform())));
      const int x0 = int((w - bw) * rng.next_uniform()), y0 = int((h - bh) * rng.next_uniform());
      const float colour[2][3] = {{0.9f, 0.2f, 0.1f}, {0.1f, 0.3f, 0.9f}};
      for (int c = 0; c < 3; ++c)
        for (int y = y0; y < y0 + bh; ++y)
          for (int x = x0; x < x0 + bw; ++x) images[size_t(((b * 3 + c) * h + y) * w + x)] = colour[cls][c];
      truths[size_t(b)].push_back({(x0 + bw / 2.0) / w, (y0 + bh / 2.0) / h, double(bw) / w, double(bh) / h, cls});
    }
  }
}

}  // namespace simad::testing
