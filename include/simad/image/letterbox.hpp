// simad/image/letterbox.hpp: an image to a network input, as pjreddie Darknet does it
// (src/image.c letterbox_image): scale to fit inside net_w x net_h keeping the aspect ratio (integer
// arithmetic for the new size), resize with Darknet's own separable bilinear resize_image, paste
// centred on a canvas filled with 0.5. ResizeMode::stretch resizes to net_w x net_h ignoring the
// aspect ratio (AlexeyAB Darknet's default unless letter_box=1). Both give a LetterboxGeometry
// that nn/yolo.hpp uses to map boxes back to the original pixels.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/image/image.hpp"

namespace simad::image {

enum class ResizeMode { letterbox, stretch };

// Where the resized picture sits inside the network input.
struct LetterboxGeometry {
  int image_w = 0, image_h = 0;  // original picture
  int net_w = 0, net_h = 0;      // network input
  int new_w = 0, new_h = 0;      // resized picture
  int dx = 0, dy = 0;            // its top-left corner on the canvas
};

inline LetterboxGeometry letterbox_geometry(int image_w, int image_h, int net_w, int net_h,
                                            ResizeMode mode = ResizeMode::letterbox) {
  SIMAD_CHECK(image_w >= 1 && image_h >= 1 && net_w >= 1 && net_h >= 1, "letterbox: sizes must be >= 1, got image ",
              image_w, "x", image_h, " network ", net_w, "x", net_h);
  LetterboxGeometry g{image_w, image_h, net_w, net_h, net_w, net_h, 0, 0};
  if (mode == ResizeMode::stretch) return g;
  // Darknet compares the float ratios, then divides integers (truncating).
  if (float(net_w) / float(image_w) < float(net_h) / float(image_h)) {
    g.new_w = net_w;
    g.new_h = int(int64_t(image_h) * net_w / image_w);
  } else {
    g.new_h = net_h;
    g.new_w = int(int64_t(image_w) * net_h / image_h);
  }
  g.new_w = std::max(g.new_w, 1);  // a 1000x1 strip still keeps one row
  g.new_h = std::max(g.new_h, 1);
  g.dx = (net_w - g.new_w) / 2;
  g.dy = (net_h - g.new_h) / 2;
  return g;
}

// Darknet's resize_image: first along x into a (w, im.height) buffer, then along y; source position
// c * (in - 1) / (out - 1) in float, the last column/row copied. For an output of one row or column
// Darknet divides by zero; here that row/column samples the source's first one (its x/y of 0).
inline Image resize_bilinear(const Image& im, int w, int h) {
  SIMAD_CHECK(w >= 1 && h >= 1, "resize_bilinear: output size ", w, "x", h, " must be >= 1");
  SIMAD_CHECK(!im.empty(), "resize_bilinear: empty input image");
  const float w_scale = w > 1 ? float(im.width - 1) / float(w - 1) : 0.0f;
  const float h_scale = h > 1 ? float(im.height - 1) / float(h - 1) : 0.0f;
  Image part(w, im.height, im.channels);
  for (int k = 0; k < im.channels; ++k)
    for (int r = 0; r < im.height; ++r)
      for (int c = 0; c < w; ++c) {
        float val;
        if ((c == w - 1 && w > 1) || im.width == 1) {
          val = im.at(im.width - 1, r, k);
        } else {
          const float sx = float(c) * w_scale;
          const int ix = int(sx);
          const float dx = sx - float(ix);
          val = (1 - dx) * im.at(ix, r, k) + (ix + 1 < im.width ? dx * im.at(ix + 1, r, k) : 0.0f);
        }
        part.at(c, r, k) = val;
      }
  Image out(w, h, im.channels);
  for (int k = 0; k < im.channels; ++k)
    for (int r = 0; r < h; ++r) {
      const float sy = float(r) * h_scale;
      const int iy = int(sy);
      const float dy = sy - float(iy);
      for (int c = 0; c < w; ++c) out.at(c, r, k) = (1 - dy) * part.at(c, iy, k);
      if (r == h - 1 || im.height == 1 || iy + 1 >= im.height) continue;
      for (int c = 0; c < w; ++c) out.at(c, r, k) += dy * part.at(c, iy + 1, k);
    }
  return out;
}

// The network input for `im`: letterboxed (default) or stretched to net_w x net_h.
inline Image letterbox(const Image& im, int net_w, int net_h, ResizeMode mode = ResizeMode::letterbox,
                       LetterboxGeometry* geometry = nullptr) {
  const LetterboxGeometry g = letterbox_geometry(im.width, im.height, net_w, net_h, mode);
  if (geometry) *geometry = g;
  const Image resized = resize_bilinear(im, g.new_w, g.new_h);
  if (mode == ResizeMode::stretch) return resized;
  Image boxed(net_w, net_h, im.channels, 0.5f);
  for (int k = 0; k < im.channels; ++k)
    for (int y = 0; y < g.new_h; ++y)
      for (int x = 0; x < g.new_w; ++x) boxed.at(g.dx + x, g.dy + y, k) = resized.at(x, y, k);
  return boxed;
}

}  // namespace simad::image

#include <span>
#include <vector>

#include "simad/core/tensor.hpp"

namespace simad::image {

// A batch of pictures as one network input (B, channels, net_h, net_w); geometries[b] says how
// picture b was placed (for nn::detect). All pictures must have the same channel count.
inline Tensor<float> letterbox_batch(std::span<const Image> images, int net_w, int net_h,
                                     ResizeMode mode = ResizeMode::letterbox,
                                     std::vector<LetterboxGeometry>* geometries = nullptr) {
  SIMAD_CHECK(!images.empty(), "letterbox_batch: no images");
  const int C = images[0].channels;
  Tensor<float> batch = Tensor<float>::empty({int64_t(images.size()), C, net_h, net_w});
  if (geometries) geometries->clear();
  for (size_t b = 0; b < images.size(); ++b) {
    SIMAD_CHECK(images[b].channels == C, "letterbox_batch: image ", b, " has ", images[b].channels,
                " channels, image 0 has ", C);
    LetterboxGeometry g;
    const Image boxed = letterbox(images[b], net_w, net_h, mode, &g);
    std::copy(boxed.data.begin(), boxed.data.end(), batch.data() + int64_t(b) * C * net_h * net_w);
    if (geometries) geometries->push_back(g);
  }
  return batch;
}

}  // namespace simad::image
