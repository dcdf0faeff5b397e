// simad/io/darknet.hpp: Darknet files: the .cfg parser and YOLOv3 builders (darknet_cfg.hpp) and
// the .weights reader/writer (darknet_weights.hpp).
#pragma once

#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
