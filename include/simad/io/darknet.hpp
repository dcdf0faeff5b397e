// simad/io/darknet.hpp: Darknet files: the .cfg parser (darknet_cfg.hpp) and the .weights
// reader/writer (darknet_weights.hpp). The built-in YOLOv3 architectures: nn/yolov3_configs.hpp.
#pragma once

#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
