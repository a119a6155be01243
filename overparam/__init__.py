"""overparam: the tested package behind the executable book on over-parameterization.

Chapter notebooks in ``notebooks/`` import from here; nothing here imports from them.
"""

__version__ = "0.1.0"
