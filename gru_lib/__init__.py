"""gru_lib: the gated recurrent unit and its gate variants GRU1–GRU3 (Dey & Salem, 2017) in PyTorch."""

from .cell import GRUCell
from .rnn import GRU
from .variants import VARIANTS, Variant, get_variant

__version__ = "0.1.0"
__all__ = ["GRU", "GRUCell", "VARIANTS", "Variant", "get_variant", "__version__"]
