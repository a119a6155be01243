"""Curvature of the training loss: Hessian-vector products, exact Hessians, Lanczos,
stochastic Lanczos quadrature and the Gauss-Newton split H = G + R.

Everything works on a *functional* model: a callable ``apply(theta, X) -> logits`` whose
parameters are one flat vector ``theta``; the book's model family gives such models
(:class:`overparam.models.Flat`, e.g. :class:`FlatMLP`), and :func:`module_to_functional`
turns any ``torch.nn.Module`` into one. :mod:`.curvature` holds the operators
(:class:`Curvature`), :mod:`.eigen` the eigen-solvers and spectral densities.

Introduced in: Chapter 2
"""
from .curvature import (EIG_METHODS, FASTER_HVP, HVP_METHODS, LOSSES, SPECTRUM_METHODS, Apply,
                        Curvature, FlatMLP, gauss_newton_rank_bound, module_to_functional,
                        output_loss)
from .eigen import (Eigenpairs, SpectralDensity, lanczos, slq, spectrum, stacked_top_eigenvalue,
                    top_eigenpairs, top_eigenvalues, tridiag_eigh)

__all__ = ["EIG_METHODS", "FASTER_HVP", "HVP_METHODS", "LOSSES", "SPECTRUM_METHODS", "Apply",
           "Curvature", "FlatMLP", "gauss_newton_rank_bound", "module_to_functional",
           "output_loss", "Eigenpairs", "SpectralDensity", "lanczos", "slq", "spectrum",
           "stacked_top_eigenvalue", "top_eigenpairs", "top_eigenvalues", "tridiag_eigh"]
