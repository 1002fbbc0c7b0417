"""rlshift: what does RL fine-tuning do to a language model? The shared library of the book."""
from rlshift.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__"]
