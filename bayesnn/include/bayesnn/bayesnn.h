#pragma once

/// bayesnn: Bayesian deep learning by variational inference on LibTorch.
/// This header includes every public header; `namespace bnn = bayesnn;` reads well.

#include "bayesnn/atomic_file.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_layer.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/dataset.h"
#include "bayesnn/estimator.h"
#include "bayesnn/export.h"
#include "bayesnn/fused_adam.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/idx.h"
#include "bayesnn/likelihood.h"
#include "bayesnn/memory.h"
#include "bayesnn/metrics.h"
#include "bayesnn/mnist.h"
#include "bayesnn/mode.h"
#include "bayesnn/model.h"
#include "bayesnn/predictive.h"
#include "bayesnn/prior.h"
#include "bayesnn/trainer.h"
#include "bayesnn/variational_tensor.h"
#include "bayesnn/version.h"
