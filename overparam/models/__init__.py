"""Every architecture of the book, in one stacked functional form.

- :mod:`overparam.models.family` – the classifier family (MLPs of any depth, the 1-d CNN):
  :class:`Arch`, :func:`init_stack` (members from their seeds, padded to the widest, with
  masks), the one stacked :func:`forward`, flat-vector views (:class:`Flat`,
  :func:`flatten`, :func:`unflatten`) for the Hessian tools, and :func:`to_module` to
  export one member as an ``nn.Module``. Used by the engine, pruning and the Hessian tools.
- :mod:`overparam.models.stacked` – the chapter-1 stacked models (CNNs with max-pooling,
  hypernetworks, one-hidden-layer AND nets), same stacked convention (leading member
  dimension, zero-padded members).
"""
from .family import (ARCHS, CNN_KERNEL, Arch, ConvNet, Flat, Stack, flatten, forward, forward_one,
                     from_module, init_member, init_stack, member_params, pad_to, to_module, unflatten,
                     widest)
from .stacked import (BoolNet, HyperBoolNet, HyperCNN, NaiveCNN, Stacked, StackedCNN, StackedHyperBoolNet,
                      StackedHyperCNN, StackedMLP1, conv_max, handset_and_net, uniform_init)

__all__ = [
    "ARCHS", "CNN_KERNEL", "Arch", "ConvNet", "Flat", "Stack", "flatten", "forward", "forward_one",
    "from_module", "init_member", "init_stack", "member_params", "pad_to", "to_module", "unflatten",
    "widest", "BoolNet", "HyperBoolNet", "HyperCNN", "NaiveCNN", "Stacked", "StackedCNN",
    "StackedHyperBoolNet", "StackedHyperCNN", "StackedMLP1", "conv_max", "handset_and_net", "uniform_init",
]
