"""From a review to word indices: tokenize, build a vocabulary, encode, pad.

The conventions are those of Keras's ``imdb.load_data`` and ``pad_sequences``, which
the paper's IMDB experiment used (Dey & Salem 2017, §4):

* index 0 is padding, 1 marks the start of a review, 2 an out-of-vocabulary word;
* the word of frequency rank ``r`` (``r = 1`` the most frequent) has index
  ``r + index_from``; with Keras's default ``index_from=3`` the most frequent word is 4
  and index 3 is never used (Keras's ``load_data`` behaves the same way);
* ``num_words`` bounds the *indices*: only words with index ``< num_words`` are kept,
  so ``num_words=20000`` keeps the 19996 most frequent words (ranks 1…19996) and the
  embedding table has 20000 rows;
* sequences are padded and truncated at the front (keep the last ``maxlen`` indices).

Pass ``index_from=2`` to number words from 3 instead (then ``num_words - 3`` words).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping, Optional, Sequence

import torch

__all__ = ["PAD", "START", "OOV", "TOKENIZER_VERSION", "build_vocab", "decode", "encode", "pad_sequences",
           "tokenize"]

PAD, START, OOV = 0, 1, 2
#: Changes whenever :func:`tokenize` would give different tokens (part of the IMDB cache key).
TOKENIZER_VERSION = 1

_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Runs of letters and digits (any script, no underscore), joined by single apostrophes.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Split a review into lower-case word tokens.

    Rules, in order: lower-case; replace the HTML line breaks ``<br />`` (also
    ``<br>``, ``<br/>``) by a space; read the right single quote ``’`` as an
    apostrophe; a token is a maximal run of letters and digits (any script; the
    underscore and all punctuation separate tokens) in which single apostrophes may
    join parts. So apostrophes inside words stay (``"don't"``, ``"rock'n'roll"``),
    surrounding ones go (``"'90s'"`` → ``"90s"``), and hyphens split
    (``"well-made"`` → ``"well"``, ``"made"``).

    Examples
    --------
    >>> tokenize("I didn't like it.<br /><br />Well-made, though: 8/10!")
    ['i', "didn't", 'like', 'it', 'well', 'made', 'though', '8', '10']
    """
    text = _LINE_BREAK.sub(" ", text.lower()).replace("\u2019", "'")
    return _TOKEN.findall(text)


def _check_index_args(num_words: Optional[int], index_from: int) -> None:
    if isinstance(index_from, bool) or not isinstance(index_from, int) or index_from < OOV:
        raise ValueError(f"index_from must be an int >= {OOV} (indices 0-2 are reserved), got {index_from!r}")
    if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int)
                                  or num_words <= index_from + 1):
        raise ValueError(f"num_words must be an int > index_from + 1 = {index_from + 1} or None, got {num_words!r}")


def build_vocab(token_lists: Iterable[Sequence[str]], num_words: Optional[int] = None,
                index_from: int = 3) -> dict[str, int]:
    """A word index from tokenized texts: word → index, by decreasing frequency.

    Parameters
    ----------
    token_lists : iterable of sequences of str
        Tokenized texts (for IMDB: the training reviews only).
    num_words : int, optional
        Keep only words whose index is ``< num_words`` (Keras's meaning); ``None``
        keeps every word.
    index_from : int
        The word of rank ``r`` (1 = most frequent) gets index ``r + index_from``.

    Returns
    -------
    dict
        Word → index, in index order. Frequency is the total number of occurrences;
        ties are broken alphabetically (by code point), so the result does not
        depend on the order of the texts.

    Examples
    --------
    >>> build_vocab([["b", "a", "b"], ["c", "a", "b"]])
    {'b': 4, 'a': 5, 'c': 6}
    """
    _check_index_args(num_words, index_from)
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    if num_words is not None:
        ranked = ranked[: num_words - index_from - 1]
    return {word: rank + index_from for rank, word in enumerate(ranked, start=1)}


def encode(tokens: Iterable[str], word_index: Mapping[str, int], num_words: Optional[int] = None,
           start: bool = True) -> list[int]:
    """Word indices of a tokenized text.

    Parameters
    ----------
    tokens : iterable of str
        Output of :func:`tokenize`.
    word_index : mapping
        Word → index, e.g. from :func:`build_vocab`.
    num_words : int, optional
        Indices ``>= num_words`` also become out-of-vocabulary (not needed when
        ``word_index`` came from :func:`build_vocab` with the same ``num_words``).
    start : bool
        Prepend the start index 1, as Keras does.

    Returns
    -------
    list of int
        ``[1]`` then one index per token, 2 for words not in the vocabulary (they are
        replaced, not dropped, so the length is ``len(tokens) + 1``).

    Examples
    --------
    >>> encode(["b", "z", "a"], {"b": 4, "a": 5})
    [1, 4, 2, 5]
    """
    ids = [START] if start else []
    if num_words is None:
        ids.extend(word_index.get(t, OOV) for t in tokens)
    else:
        ids.extend(i if (i := word_index.get(t, OOV)) < num_words else OOV for t in tokens)
    return ids


def decode(indices: Iterable[int], word_index: Mapping[str, int]) -> list[str]:
    """Words of an index sequence (inverse of :func:`encode`, for display).

    Padding, start and out-of-vocabulary indices become ``"<pad>"``, ``"<start>"``
    and ``"<oov>"``; an index that is in no vocabulary becomes ``"<unused>"``.
    """
    words = {i: w for w, i in word_index.items()}
    words.update({PAD: "<pad>", START: "<start>", OOV: "<oov>"})
    return [words.get(int(i), "<unused>") for i in indices]


def pad_sequences(sequences: Sequence[Sequence[int]], maxlen: Optional[int] = None, padding: str = "pre",
                  truncating: str = "pre", value: int = PAD) -> torch.Tensor:
    """Pad and truncate index sequences to one length, like Keras's ``pad_sequences``.

    Parameters
    ----------
    sequences : sequence of sequences of int
        E.g. outputs of :func:`encode`.
    maxlen : int, optional
        Length of the result; default the longest sequence.
    padding : {"pre", "post"}
        Where shorter sequences get ``value``: ``"pre"`` (default) at the front.
    truncating : {"pre", "post"}
        Where longer sequences lose indices: ``"pre"`` (default) at the front, so the
        *last* ``maxlen`` indices are kept (and a long review loses its start index).
    value : int
        The padding index.

    Returns
    -------
    torch.Tensor
        ``int64`` of shape ``(len(sequences), maxlen)``.

    Examples
    --------
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    """
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"unknown {name} {choice!r}; expected one of ['pre', 'post']")
    lengths = [len(s) for s in sequences]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive int or None, got {maxlen!r}")
    out = torch.full((len(sequences), maxlen), value, dtype=torch.int64)
    for row, (seq, n) in enumerate(zip(sequences, lengths, strict=True)):
        if n == 0:
            continue
        kept = list(seq[-maxlen:] if truncating == "pre" else seq[:maxlen])
        k = len(kept)
        if padding == "pre":
            out[row, maxlen - k:] = torch.tensor(kept, dtype=torch.int64)
        else:
            out[row, :k] = torch.tensor(kept, dtype=torch.int64)
    return out
