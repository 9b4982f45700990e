// Priors: the interface, the module that holds a tensor's prior, and every built-in family
// (one file each in bayesnn/priors/).
#pragma once

#include "bayesnn/prior_family.h"
#include "bayesnn/prior_module.h"
#include "bayesnn/priors/empirical_bayes.h"
#include "bayesnn/priors/fixed.h"
#include "bayesnn/priors/gaussian_prior.h"
#include "bayesnn/priors/group_horseshoe.h"
#include "bayesnn/priors/group_normal_jeffreys.h"
#include "bayesnn/priors/group_prior.h"
#include "bayesnn/priors/hierarchical.h"
#include "bayesnn/priors/scale_mixture.h"
#include "bayesnn/priors/unit_hierarchical.h"
