// Fused optimiser steps over a flat parameter arena, and the reductions around them (gradient
// norm, scaling, parameter averaging). Every array has n elements (the arena's flat buffers).
// Each step is one elementwise pass: it reads p, g and the state and writes p and the state back
// in place; nothing is allocated. The formulas are torch.optim's single-tensor ones.
#pragma once
#include "common.h"

namespace pydlk {

// Coupled regularisation shared by every step: g' = s*g + wd*p + l1*sign(p), s = -1 if maximize.

// SGD. buf (momentum buffer) may be null when momentum == 0.
//   buf = first ? g' : momentum*buf + (1-dampening)*g';  d = nesterov ? g' + momentum*buf : buf
//   p -= lr*d
template <typename T>
void sgd_step(T* p, T* buf, const T* g, index_t n, double lr, double momentum, double dampening,
              double weight_decay, double l1, bool nesterov, bool maximize, bool first);

// Adam / AdamW (decoupled: p *= 1 - lr*wd first, instead of adding wd*p to g).
//   m += (1-b1)(g'-m); v = b2 v + (1-b2) g'^2; vmax = max(vmax, v) when amsgrad (vmax non-null)
//   p -= (lr/bc1) * m / (sqrt(v or vmax)/sqrt(bc2) + eps)     (eps after the square root)
template <typename T>
void adam_step(T* p, T* m, T* v, T* vmax, const T* g, index_t n, double lr, double beta1,
               double beta2, double eps, double weight_decay, double l1, double bias_correction1,
               double bias_correction2, bool decoupled, bool maximize);

// RMSprop. ga (centered) and buf (momentum > 0) may be null.
//   sq = alpha sq + (1-alpha) g'^2;  ga += (1-alpha)(g'-ga);  avg = sqrt(sq - ga^2) + eps
//   momentum: buf = momentum*buf + g'/avg; p -= lr*buf   else p -= lr*g'/avg
template <typename T>
void rmsprop_step(T* p, T* sq, T* ga, T* buf, const T* g, index_t n, double lr, double alpha,
                  double eps, double weight_decay, double l1, double momentum, bool maximize);

// Adagrad with the decayed learning rate clr = lr / (1 + (step-1) lr_decay) computed by the caller.
//   sum += g'^2;  p -= clr * g' / (sqrt(sum) + eps)
template <typename T>
void adagrad_step(T* p, T* sum, const T* g, index_t n, double clr, double eps, double weight_decay,
                  double l1, bool maximize);

// Adamax, NAdam, RAdam (optim_adam_variants.cpp), coupled regularisation as above; the
// step-dependent coefficients come from the caller.
// Adamax: m += (1-b1)(g'-m); u = max(b2 u, |g'| + eps); p -= clr * m/u, clr = lr / (1 - b1^t)
template <typename T>
void adamax_step(T* p, T* m, T* u, const T* g, index_t n, double clr, double beta1, double beta2,
                 double eps, double weight_decay, double l1, bool maximize);

// NAdam: p *= shrink (decoupled decay); m, v as Adam; d = sqrt(v / bc2) + eps;
//   p -= cg * g'/d; p -= cm * m/d    (cg = lr (1 - mu_t) / (1 - prod mu), cm = lr mu_{t+1} /
//   (1 - prod mu * mu_{t+1}))
template <typename T>
void nadam_step(T* p, T* m, T* v, const T* g, index_t n, double shrink, double cg, double cm,
                double beta1, double beta2, double bias_correction2, double eps,
                double weight_decay, double l1, bool maximize);

// RAdam: p *= shrink; m, v as Adam; adaptive: p -= step_size * m / (sqrt(v) + eps), else
// p -= step_size * m.
template <typename T>
void radam_step(T* p, T* m, T* v, const T* g, index_t n, double shrink, double step_size,
                bool adaptive, double beta1, double beta2, double eps, double weight_decay,
                double l1, bool maximize);

// avg += w * (x - avg): an exponential moving average (w = 1 - decay) or an equal running
// average (w = 1/(k+1)).
template <typename T>
void average_update(T* avg, const T* x, index_t n, double w);

// Reduction for norms: 2 -> sum x^2, 1 -> sum |x|, inf -> max |x|, -inf -> min |x|,
// 0 -> count of non-zeros, other p -> sum |x|^p. Accumulated in double.
template <typename T>
double norm_reduce(const T* x, index_t n, double p);

// x *= c
template <typename T>
void scale_inplace(T* x, index_t n, double c);

// x += y: the autograd engine sums a tensor's gradients with it (a ResNet block's input gets
// one from its convolution and one from its shortcut), on all threads.
template <typename T>
void add_inplace(T* x, const T* y, index_t n);

}  // namespace pydlk
