r"""Unrolled sparse recovery and plug-and-play: each iteration of a proximal algorithm as a layer.

One idea per module:

* :mod:`.problems`: the synthetic set-up (Gaussian sensing matrices, Bernoulli–Gaussian and
  group-sparse signals, noise at a given SNR) and NMSE in dB;
* :mod:`.proximal`: soft and group soft thresholds, ISTA and FISTA (batched, every iterate
  returned), and the lasso as a differentiable :func:`calib.fixed_point` of its proximal map;
* :mod:`.lista`: LISTA with untied per-layer weights, LISTA-CP, LISTA-CPSS (Chen et al., NeurIPS
  2018) and a group LISTA with block-diagonal weights, as equinox modules, and their training;
* :mod:`.amp`: approximate message passing with the Onsager term, and its state evolution;
* :mod:`.admm`: ADMM for imaging with a total-variation prior, and plug-and-play ADMM whose prior
  step is a small CNN denoiser, unrolled and trained end to end;
* :mod:`.dictionary`: supervised (task-driven) dictionary learning, the lasso as the inner problem.

Everything is pure JAX, batched over signals along the leading axis, and jit-able; the experiment
scripts (``experiments/lista_synthetic.py``, ``amp_state_evolution.py``, ``pnp_admm.py``,
``dictionary_learning.py``) measure what the theory claims.
"""
