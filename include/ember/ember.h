// The umbrella header of ember's C++ API: tensors, dtypes, errors, autograd, ops, convolution/pooling, fused
// optimizer steps, threads, nn layers, optimizers and data loading. `#include <ember/ember.h>` and link ember::ember (find_package(ember CONFIG)).
#pragma once

#include "ember/dtype.h"
#include "ember/error.h"
#include "ember/storage.h"
#include "ember/tensor.h"
#include "ember/threads.h"
#include "ember/node.h"
#include "ember/autograd.h"
#include "ember/ops.h"
#include "ember/conv.h"
#include "ember/fused_optim.h"
#include "ember/nn.h"
#include "ember/optim.h"
#include "ember/data.h"
