"""The paper's data sets, read from canonical files: MNIST and IMDB.

* :func:`load_mnist`, :func:`mnist_sequences`, :func:`mnist_dataset` — MNIST
  (LeCun et al. 1998) as row-wise (28 × 28) or pixel-wise (784 × 1) sequences;
* :func:`load_imdb`, :func:`load_imdb_texts` — the IMDB reviews (Maas et al. 2011)
  as Keras-style padded word indices, or as raw text;
* :func:`tokenize`, :func:`build_vocab`, :func:`encode`, :func:`pad_sequences`,
  :func:`decode` — the steps from a review to its indices.

Files are looked for in the data directory (:func:`resolve_data_dir`): the
``data_dir`` argument, else ``$GRU_LIB_DATA_DIR``, else ``~/.cache/gru_lib``
(``$XDG_CACHE_HOME/gru_lib``):

* MNIST: ``mnist/train-images-idx3-ubyte.gz``, ``mnist/train-labels-idx1-ubyte.gz``,
  ``mnist/t10k-images-idx3-ubyte.gz`` and ``mnist/t10k-labels-idx1-ubyte.gz``;
* IMDB: ``aclImdb_v1.tar.gz``, or ``aclImdb_v1_labeled.tar.gz``, or an extracted
  ``aclImdb/``.

Every file is checked against its canonical sha256 before it is read
(:class:`DataIntegrityError` otherwise). Missing files are downloaded into the data
directory unless ``download=False``; without network, :class:`DataNotFoundError`
says which files are missing, where to get them and where to put them.
"""

from ._files import ENV_VAR, resolve_data_dir
from .errors import DataError, DataIntegrityError, DataNotFoundError
from .imdb import load_imdb, load_imdb_texts
from .mnist import load_mnist, mnist_dataset, mnist_sequences, pixel_permutation
from .text import OOV, PAD, START, build_vocab, decode, encode, pad_sequences, tokenize

__all__ = [
    "DataError",
    "DataIntegrityError",
    "DataNotFoundError",
    "ENV_VAR",
    "OOV",
    "PAD",
    "START",
    "build_vocab",
    "decode",
    "encode",
    "load_imdb",
    "load_imdb_texts",
    "load_mnist",
    "mnist_dataset",
    "mnist_sequences",
    "pad_sequences",
    "pixel_permutation",
    "resolve_data_dir",
    "tokenize",
]
