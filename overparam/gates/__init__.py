"""Liveness gates: an L1-penalised gate per hidden unit that removes the unit during training.

The journal's "sparsifier network" (November 2017) multiplies every hidden unit (every
channel of a CNN) by a trained *liveness* ``g >= 0`` and adds ``lambda * sum |g|`` to the
loss; a unit whose liveness reaches 0 is removed from the network while it trains, so the
steps after it are really cheaper.

How to use it
-------------
>>> from overparam import gates
>>> net = gates.init_gated(Arch("mlp", (500,), 40, 10), seeds=[0, 1])   # a stack of 2
>>> logits = gates.gated_forward(net.arch, net.params, X, net.gscale)
>>> pen = gates.GatePenalty([1e-3, 1e-4], depth=1, decay=0.9)            # lambda per member
>>> rem = gates.Remover(net, pen, steps_per_epoch=40)                     # fit callback
>>> fit(net.params, loss, batches, opt, steps, penalties=[pen], callbacks=[rem])

- Parameter layout: the family's ``[W1, b1, ..., Wout, bout]`` (:mod:`overparam.models`)
  followed by one gate tensor ``(M, w_l)`` per hidden layer. A member's gate ``l`` is
  ``gscale[m] * theta``: under Adam the step on ``g`` is then ``gscale[m]`` times the step
  on ``theta``, so ``gscale`` is a per-member *gate learning rate* (Adam is invariant to
  the gradient's scale); gates start at 1.
- :class:`Remover` (a callback of :func:`overparam.engine.loop.fit`): after each step it
  clamps the gates to ``>= 0`` (the projection of the L1 step), and every ``check_every``
  steps removes units whose gate is 0 by :func:`compact`: each member keeps its own live
  units, moved to the front in their order, and the stack is cut to the widest member.
  The rest is zero padding with a zero gate, which is exact for ReLU: a padded unit has
  zero weights in and out and a zero gradient everywhere, so it never moves and never
  contributes (tested). The optimizer's state (Adam moments, momentum) follows the kept
  units through the same index selection, so their state is unchanged by a removal.
- :func:`compact`: the structural surgery, written with ``torch.gather`` on the stacked
  tensors (no library: torch-pruning's ``prune_linear_out_channels`` works on one
  ``nn.Module`` at a time, does not know the stack's per-member padding, and would not move
  the optimizer's state; the gather is a few lines and covers MLPs and the 1-d CNN).
- :class:`GateReLU`: ``relu(z) * g`` with its gradient written by hand, saving only the
  output and the gate. Autograd on the naive product keeps ``relu(z)`` (for the gate's
  gradient) *and* the product (for the next layer): twice a plain network's activations,
  the journal's CNN memory problem. :func:`saved_bytes` measures what autograd keeps.

Modules: :mod:`~overparam.gates.units` (gate, network, forward), :mod:`~overparam.gates.removal`
(compaction, penalty, :class:`Remover`), :mod:`~overparam.gates.training` (:func:`train_gated`),
:mod:`~overparam.gates.memory` (:func:`cnn2d_bytes`: the memory of a gated 2-d CNN).

Introduced in: Chapter 6
"""
from .memory import cnn2d_bytes
from .removal import GatePenalty, RemovalLog, Remover, compact, move_optimizer, plan, remove_units
from .training import TASKS, GatedRun, GateSpec, train_gated
from .units import (GATE_MODES, GatedNet, GateReLU, arch_of, check_lambda, gate, gated_forward, init_gated,
                    live_counts, live_mask, saved_bytes)

__all__ = ["GATE_MODES", "TASKS", "GatedNet", "GateReLU", "GatePenalty", "GateSpec", "GatedRun", "RemovalLog",
           "Remover", "arch_of", "check_lambda", "cnn2d_bytes", "compact", "gate", "gated_forward", "init_gated", "live_counts",
           "live_mask", "move_optimizer", "plan", "remove_units", "saved_bytes", "train_gated"]
