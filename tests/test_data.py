"""The data package: MNIST and IMDB readers, the text pipeline, checksums, downloads, errors.

Fixtures in the real formats (IDX .gz files, an aclImdb .tar.gz) are written into
tmp_path and registered with their own checksums, so they go through the same
verification and parsing code as the canonical files. The network is never used:
every test runs with the downloader replaced by one that fails (or serves bytes
from memory). Tests marked ``realdata`` read the real files (the fixtures of conftest.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import time
import urllib.error
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import gru_lib.data as data
from gru_lib.data import (
    DataIntegrityError,
    DataNotFoundError,
    build_vocab,
    decode,
    encode,
    load_imdb,
    load_imdb_texts,
    load_mnist,
    mnist_dataset,
    mnist_sequences,
    pad_sequences,
    pixel_permutation,
    resolve_data_dir,
    tokenize,
)
from gru_lib.data import _download, imdb, mnist

# ----------------------------------------------------------------------------- helpers & fixtures
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(monkeypatch, registry: dict, path: Path, name: str | None = None) -> None:
    """Make ``path`` the expected canonical file ``name`` for the duration of a test."""
    name = name or path.name
    monkeypatch.setitem(registry, name, replace(registry[name], sha256=sha256(path), size=path.stat().st_size))


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def write_gz(path: Path, raw: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test touches the network, the user's cache or $GRU_LIB_DATA_DIR."""
    calls = []

    def refuse(url, timeout):
        calls.append(url)
        raise urllib.error.URLError("network disabled in the tests")

    monkeypatch.setattr(_download, "_urlopen", refuse)
    monkeypatch.delenv("GRU_LIB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return calls


@pytest.fixture
def mnist_root(tmp_path, monkeypatch):
    """A data dir with tiny but format-faithful MNIST files (5 train, 3 test images)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        arrays[prefix] = (images, labels)
        for kind, magic, dims, payload in (("images-idx3", 2051, (n, 28, 28), images.tobytes()),
                                           ("labels-idx1", 2049, (n,), labels.tobytes())):
            path = write_gz(root / "mnist" / f"{prefix}-{kind}-ubyte.gz", idx_bytes(magic, dims, payload))
            register(monkeypatch, mnist.FILES, path)
    return root, arrays


REVIEWS = {
    "aclImdb/train/pos/1_8.txt": "A great, great film!<br />Loved it.",
    "aclImdb/train/pos/0_9.txt": "great acting",
    "aclImdb/train/neg/0_2.txt": "A dull film. Dull, dull.",
    "aclImdb/train/neg/1_1.txt": "boring",
    "aclImdb/test/pos/0_10.txt": "great fun, a zebra",
    "aclImdb/test/neg/0_3.txt": "dull and boring",
    "aclImdb/train/unsup/0_0.txt": "ignored ignored ignored ignored",
    "aclImdb/README": "not a review",
}


def write_tar(path: Path, files: dict[str, bytes | str], special: list[tarfile.TarInfo] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            raw = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        for info in special:
            tar.addfile(info)
    return path


@pytest.fixture
def imdb_root(tmp_path, monkeypatch):
    """A data dir with a tiny labelled aclImdb archive, registered as the shared one."""
    root = tmp_path / "data"
    path = write_tar(root / imdb.LABELED.name, REVIEWS)
    register(monkeypatch, imdb.ARCHIVES, path)
    return root


# ----------------------------------------------------------------------------- data directory
def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "gru_lib"
    monkeypatch.setenv("GRU_LIB_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("GRU_LIB_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_data_dir() == Path.home() / ".cache" / "gru_lib"


def test_env_dir_is_read(mnist_root, monkeypatch):
    root, arrays = mnist_root
    monkeypatch.setenv("GRU_LIB_DATA_DIR", str(root))
    images, _ = load_mnist("test", download=False)
    assert torch.equal(images, torch.from_numpy(arrays["t10k"][0]))


# ----------------------------------------------------------------------------- MNIST
def test_load_mnist_parses_idx(mnist_root):
    root, arrays = mnist_root
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = load_mnist(split, data_dir=root, download=False)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert torch.equal(images, torch.from_numpy(arrays[prefix][0]))
        assert torch.equal(labels, torch.from_numpy(arrays[prefix][1].astype(np.int64)))


def test_row_and_pixel_sequences(mnist_root):
    root, arrays = mnist_root
    images, _ = load_mnist("train", data_dir=root, download=False)
    rows = mnist_sequences(images, "row")
    assert rows.shape == (5, 28, 28) and rows.dtype == torch.float32
    assert torch.equal(rows[2, 7], images[2, 7].float() / 255)  # step t is row t
    assert rows.min() >= 0 and rows.max() <= 1
    pixels = mnist_sequences(images, "pixel")
    assert pixels.shape == (5, 784, 1)
    assert pixels[1, 28 * 3 + 5, 0] == images[1, 3, 5].item() / 255  # row-major scan from the upper left
    assert pixels[1, 0, 0] == images[1, 0, 0].item() / 255 and pixels[1, -1, 0] == images[1, 27, 27].item() / 255
    white = torch.full((1, 28, 28), 255, dtype=torch.uint8)
    assert torch.equal(mnist_sequences(white, "pixel"), torch.ones(1, 784, 1))
    assert torch.equal(mnist_sequences(np.zeros((2, 28, 28), np.uint8)), torch.zeros(2, 28, 28))


def test_permuted_pixels(mnist_root):
    root, _ = mnist_root
    images, _ = load_mnist("train", data_dir=root, download=False)
    plain = mnist_sequences(images, "pixel")
    perm = pixel_permutation(7)
    assert torch.equal(perm, pixel_permutation(7)) and not torch.equal(perm, pixel_permutation(8))
    assert torch.equal(torch.sort(perm).values, torch.arange(784))
    by_seed = mnist_sequences(images, "pixel", permutation=7)
    assert torch.equal(by_seed, plain[:, perm])
    reverse = torch.arange(783, -1, -1)
    assert torch.equal(mnist_sequences(images, "pixel", permutation=reverse)[:, 0, 0], plain[:, 783, 0])
    with pytest.raises(ValueError, match="exactly once"):
        mnist_sequences(images, "pixel", permutation=torch.zeros(784, dtype=torch.int64))
    with pytest.raises(ValueError, match="784"):
        mnist_sequences(images, "pixel", permutation=torch.arange(10))
    with pytest.raises(ValueError, match="pixel"):
        mnist_sequences(images, "row", permutation=0)


def test_mnist_argument_errors(mnist_root):
    root, _ = mnist_root
    images, _ = load_mnist("train", data_dir=root, download=False)
    with pytest.raises(ValueError, match=r"\['train', 'test'\]"):
        load_mnist("validation", data_dir=root)
    with pytest.raises(ValueError, match=r"\['row', 'pixel'\]"):
        mnist_sequences(images, "column")
    with pytest.raises(TypeError, match="uint8"):
        mnist_sequences(images.float())
    with pytest.raises(ValueError, match="shape"):
        mnist_sequences(images.reshape(5, 784))
    with pytest.raises(ValueError, match="limit"):
        mnist_dataset("train", data_dir=root, limit=0)


def test_mnist_dataset(mnist_root):
    root, arrays = mnist_root
    ds = mnist_dataset("train", "pixel", data_dir=root, limit=3, download=False)
    assert len(ds) == 3
    x, y = ds[2]
    assert x.shape == (784, 1) and y.item() == int(arrays["train"][1][2])


# ----------------------------------------------------------------------------- MNIST failures
def test_missing_mnist_without_download(tmp_path, offline):
    with pytest.raises(DataNotFoundError) as err:
        load_mnist("train", data_dir=tmp_path / "empty", download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "empty" / "mnist") in msg and "disabled" in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in msg
    assert isinstance(err.value, FileNotFoundError) and not offline  # no download was tried


def test_missing_mnist_offline_fails_fast(tmp_path, offline):
    t0 = time.perf_counter()
    with pytest.raises(DataNotFoundError) as err:
        load_mnist("test", data_dir=tmp_path / "empty")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "network disabled in the tests" in msg  # the reason, per URL
    assert len(offline) == len(mnist.MIRRORS)  # each mirror tried once, then no further file
    assert not list((tmp_path / "empty" / "mnist").iterdir())  # no partial files left


def test_checksum_mismatch_is_refused(mnist_root, monkeypatch):
    root, _ = mnist_root
    name = "t10k-labels-idx1-ubyte.gz"
    expected = "0" * 64
    monkeypatch.setitem(mnist.FILES, name, replace(mnist.FILES[name], sha256=expected))
    with pytest.raises(DataIntegrityError) as err:
        load_mnist("test", data_dir=root, download=False)
    msg = str(err.value)
    assert name in msg and expected in msg and sha256(root / "mnist" / name) in msg and "Delete it" in msg


def test_truncated_file_is_refused_by_size(mnist_root, monkeypatch):
    root, _ = mnist_root
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    full = path.stat().st_size
    path.write_bytes(path.read_bytes()[: full // 2])
    with pytest.raises(DataIntegrityError, match="truncated"):
        load_mnist("train", data_dir=root, download=False)


@pytest.mark.parametrize("damage", ["truncate", "flip", "not-gzip"])
def test_corrupt_gzip_is_refused_even_with_matching_checksum(mnist_root, monkeypatch, damage):
    root, _ = mnist_root
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 20]
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = bytearray(b"plain text")
    path.write_bytes(bytes(raw))
    register(monkeypatch, mnist.FILES, path)  # the parser itself must catch it
    with pytest.raises(DataIntegrityError, match="train-images-idx3-ubyte.gz"):
        load_mnist("train", data_dir=root, download=False)


@pytest.mark.parametrize("case, match", [
    ("magic", "magic number 2049, expected 2051"),
    ("length", "implies"),
    ("side", "expected 28×28"),
])
def test_malformed_idx_is_refused(mnist_root, monkeypatch, case, match):
    root, _ = mnist_root
    path = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    pixels = bytes(3 * 28 * 28)
    raw = {"magic": idx_bytes(2049, (3, 28, 28), pixels),
           "length": idx_bytes(2051, (3, 28, 28), pixels[:-1]),
           "side": idx_bytes(2051, (3, 28, 28 * 28), bytes(3 * 28 * 28 * 28))}[case]
    register(monkeypatch, mnist.FILES, write_gz(path, raw))
    with pytest.raises(DataIntegrityError, match=match):
        load_mnist("test", data_dir=root, download=False)


def test_label_count_must_match_images(mnist_root, monkeypatch):
    root, _ = mnist_root
    path = write_gz(root / "mnist" / "t10k-labels-idx1-ubyte.gz", idx_bytes(2049, (2,), bytes([1, 2])))
    register(monkeypatch, mnist.FILES, path)
    with pytest.raises(DataIntegrityError, match="3 images but .* 2 labels"):
        load_mnist("test", data_dir=root, download=False)


# ----------------------------------------------------------------------------- downloads (no network)
class FakeNetwork:
    """Serves ``files`` by URL basename from memory; URLs in ``broken`` answer 404."""

    def __init__(self, files: dict[str, bytes], broken: tuple[str, ...] = ()):
        self.files, self.broken, self.calls = files, broken, []

    def __call__(self, url, timeout):
        self.calls.append(url)
        assert timeout <= 10
        if url.startswith(self.broken):
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return io.BytesIO(self.files[url.rsplit("/", 1)[1]])


def test_download_is_verified_and_atomic(mnist_root, tmp_path, monkeypatch):
    source, _ = mnist_root
    served = {p.name: p.read_bytes() for p in (source / "mnist").iterdir()}
    net = FakeNetwork(served, broken=(mnist.MIRRORS[0],))
    monkeypatch.setattr(_download, "_urlopen", net)
    target = tmp_path / "fresh"
    images, labels = load_mnist("test", data_dir=target)
    assert len(images) == 3 and len(labels) == 3
    assert sorted(p.name for p in (target / "mnist").iterdir()) == ["t10k-images-idx3-ubyte.gz",
                                                                    "t10k-labels-idx1-ubyte.gz"]
    assert [u.split("/")[2] for u in net.calls] == ["ossci-datasets.s3.amazonaws.com", "storage.googleapis.com"] * 2


def test_download_with_wrong_bytes_leaves_nothing(mnist_root, tmp_path, monkeypatch):
    source, _ = mnist_root
    served = {p.name: p.read_bytes() + b"x" for p in (source / "mnist").iterdir()}
    monkeypatch.setattr(_download, "_urlopen", FakeNetwork(served))
    target = tmp_path / "fresh"
    with pytest.raises(DataNotFoundError, match="expected"):
        load_mnist("test", data_dir=target)
    assert list((target / "mnist").iterdir()) == []


# ----------------------------------------------------------------------------- text pipeline
@pytest.mark.parametrize("text, tokens", [
    ("Hello, World!", ["hello", "world"]),
    ("I didn't like it.<br /><br />Really.", ["i", "didn't", "like", "it", "really"]),
    ("line<br>break<BR/>here", ["line", "break", "here"]),
    ("'Quoted' words' and 'rock'n'roll'", ["quoted", "words", "and", "rock'n'roll"]),
    ("Well-made; 8/10 (1990s) x_y", ["well", "made", "8", "10", "1990s", "x", "y"]),
    ("It\u2019s café naïve", ["it's", "café", "naïve"]),
    ("don''t ... !!!", ["don", "t"]),
    ("", []),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_build_vocab_frequency_then_alphabetical():
    texts = [["b", "a", "c", "b"], ["d", "a", "b"], ["c"]]  # b:3, a:2, c:2, d:1
    assert build_vocab(texts) == {"b": 4, "a": 5, "c": 6, "d": 7}  # Keras: rank 1 -> 1 + index_from
    assert list(build_vocab(texts)) == ["b", "a", "c", "d"]
    assert build_vocab(texts, num_words=6) == {"b": 4, "a": 5}  # indices < num_words only
    assert build_vocab(texts, num_words=6, index_from=2) == {"b": 3, "a": 4, "c": 5}
    assert build_vocab(reversed(texts)) == build_vocab(texts)  # order of texts does not matter
    with pytest.raises(ValueError, match="num_words"):
        build_vocab(texts, num_words=4)
    with pytest.raises(ValueError, match="index_from"):
        build_vocab(texts, index_from=1)


def test_encode_and_decode():
    index = {"the": 4, "film": 5, "rare": 30}
    assert encode(["the", "film", "xyz"], index) == [1, 4, 5, 2]
    assert encode(["the", "rare"], index, num_words=20) == [1, 4, 2]
    assert encode(["film"], index, start=False) == [5]
    assert encode([], index) == [1]
    assert decode([0, 1, 4, 2, 3], index) == ["<pad>", "<start>", "the", "<oov>", "<unused>"]


def test_pad_sequences_like_keras():
    seqs = [[1, 2, 3, 4, 5], [6, 7], [], [8, 9, 10]]
    assert pad_sequences(seqs, maxlen=3).tolist() == [[3, 4, 5], [0, 6, 7], [0, 0, 0], [8, 9, 10]]
    assert pad_sequences(seqs, maxlen=3, padding="post", truncating="post").tolist() == [
        [1, 2, 3], [6, 7, 0], [0, 0, 0], [8, 9, 10]]
    assert pad_sequences(seqs, maxlen=4, padding="post").tolist() == [
        [2, 3, 4, 5], [6, 7, 0, 0], [0, 0, 0, 0], [8, 9, 10, 0]]
    assert pad_sequences(seqs, maxlen=4, truncating="post", value=-1).tolist() == [
        [1, 2, 3, 4], [-1, -1, 6, 7], [-1, -1, -1, -1], [-1, 8, 9, 10]]
    longest = pad_sequences(seqs)
    assert longest.shape == (4, 5) and longest.dtype == torch.int64 and longest[1].tolist() == [0, 0, 0, 6, 7]
    # Keras: the start index is prepended before truncating, so a long review loses it
    assert pad_sequences([encode(["a"] * 5, {"a": 4})], maxlen=3).tolist() == [[4, 4, 4]]
    assert pad_sequences([encode(["a"] * 2, {"a": 4})], maxlen=3).tolist() == [[1, 4, 4]]
    with pytest.raises(ValueError, match=r"\['pre', 'post'\]"):
        pad_sequences(seqs, maxlen=3, padding="middle")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(seqs, maxlen=0)


# ----------------------------------------------------------------------------- IMDB
def test_load_imdb_hand_derived(imdb_root, tmp_path):
    # train counts: dull 3, great 3, a 2, film 2, acting/boring/it/loved 1 -> dull 4, great 5, a 6, film 7,
    # acting 8, boring 9 (num_words=10 keeps indices < 10); test-only words (fun, zebra, and) are 2.
    d = load_imdb(imdb_root, num_words=10, maxlen=4, cache_dir=tmp_path / "cache")
    assert d["vocab"] == ["dull", "great", "a", "film", "acting", "boring"]
    assert d["word_index"] == {"dull": 4, "great": 5, "a": 6, "film": 7, "acting": 8, "boring": 9}
    # order: by path (neg/0_2, neg/1_1, pos/0_9, pos/1_8)
    assert d["x_train"].tolist() == [[4, 7, 4, 4], [0, 0, 1, 9], [0, 1, 5, 8], [5, 7, 2, 2]]
    assert d["y_train"].tolist() == [0, 0, 1, 1]
    assert d["x_test"].tolist() == [[1, 4, 2, 9], [5, 2, 6, 2]]
    assert d["y_test"].tolist() == [0, 1]
    assert d["x_train"].dtype == torch.int64 and d["y_train"].dtype == torch.int64
    assert d["source"].endswith(imdb.LABELED.name) and d["num_words"] == 10 and d["index_from"] == 3


def test_imdb_matches_the_public_pipeline(imdb_root, tmp_path):
    d = load_imdb(imdb_root, num_words=12, maxlen=6, cache=False)
    train, test = load_imdb_texts("train", imdb_root), load_imdb_texts("test", imdb_root)
    index = build_vocab([tokenize(t) for t, _ in train], num_words=12)
    for split, texts in (("train", train), ("test", test)):
        expected = pad_sequences([encode(tokenize(t), index) for t, _ in texts], maxlen=6)
        assert torch.equal(d["x_" + split], expected)
        assert d["y_" + split].tolist() == [label for _, label in texts]
    assert train[0] == ("A dull film. Dull, dull.", 0) and train[3] == ("A great, great film!<br />Loved it.", 1)
    with pytest.raises(ValueError, match=r"\['train', 'test'\]"):
        load_imdb_texts("unsup", imdb_root)


def test_imdb_cache(imdb_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_imdb(imdb_root, num_words=10, maxlen=4, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"

    def no_parsing(*args):
        raise AssertionError("the cache should have been used")

    with monkeypatch.context() as m:
        m.setattr(imdb, "_reviews", no_parsing)
        again = load_imdb(imdb_root, num_words=10, maxlen=4, cache_dir=cache)
        assert all(torch.equal(first[k], again[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
        assert again["word_index"] == first["word_index"]
        with pytest.raises(AssertionError):  # other settings, other key
            load_imdb(imdb_root, num_words=10, maxlen=5, cache_dir=cache)
    load_imdb(imdb_root, num_words=10, maxlen=4, cache=False, cache_dir=tmp_path / "nocache")
    assert not (tmp_path / "nocache").exists()
    files[0].write_bytes(b"garbage")  # a damaged cache is rebuilt, not trusted
    assert torch.equal(load_imdb(imdb_root, num_words=10, maxlen=4, cache_dir=cache)["x_train"], first["x_train"])
    # the default cache lives in the per-user cache directory
    load_imdb(imdb_root, num_words=10, maxlen=4)
    assert list((tmp_path / "xdg-cache" / "gru_lib" / "processed").glob("imdb-*.pt"))


def test_imdb_extracted_directory(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for name, text in REVIEWS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.setattr(imdb, "REVIEWS_PER_CLASS", 2)
    with pytest.raises(DataIntegrityError, match="holds 1 reviews"):  # test/ has 1 per class
        load_imdb(root, num_words=10, maxlen=4, cache=False)
    monkeypatch.setattr(imdb, "REVIEWS_PER_CLASS", 1)
    with pytest.raises(DataIntegrityError, match="holds 2 reviews"):
        load_imdb(root, num_words=10, maxlen=4, cache=False)
    for name in ("1_8.txt", "1_1.txt"):
        for label in ("pos", "neg"):
            (root / "aclImdb" / "train" / label / name).unlink(missing_ok=True)
    d = load_imdb(root, num_words=10, maxlen=4, cache_dir=tmp_path / "cache")
    assert d["y_train"].tolist() == [0, 1] and d["x_train"].shape == (2, 4)
    assert load_imdb_texts("train", root) == [("A dull film. Dull, dull.", 0), ("great acting", 1)]


def test_imdb_prefers_the_canonical_archive(imdb_root, monkeypatch):
    canonical = write_tar(imdb_root / imdb.CANONICAL.name, {k: v.upper() for k, v in REVIEWS.items()})
    register(monkeypatch, imdb.ARCHIVES, canonical)
    texts = load_imdb_texts("test", imdb_root)
    assert texts[0] == ("DULL AND BORING", 0)


def test_imdb_missing(tmp_path, offline):
    with pytest.raises(DataNotFoundError) as err:
        load_imdb(tmp_path / "empty", download=False)
    msg = str(err.value)
    for name in ("aclImdb_v1.tar.gz", "aclImdb_v1_labeled.tar.gz", "aclImdb/", imdb.URL, str(tmp_path / "empty")):
        assert name in msg
    assert not offline
    with pytest.raises(DataNotFoundError, match="network disabled"):
        load_imdb(tmp_path / "empty")
    assert offline == [imdb.URL]


def test_imdb_archive_checksum(imdb_root, monkeypatch):
    name = imdb.LABELED.name
    monkeypatch.setitem(imdb.ARCHIVES, name, replace(imdb.ARCHIVES[name], sha256="f" * 64))
    with pytest.raises(DataIntegrityError, match="expected f{64}"):
        load_imdb(imdb_root, download=False)


def test_truncated_archive(imdb_root, monkeypatch):
    path = imdb_root / imdb.LABELED.name
    path.write_bytes(path.read_bytes()[:-40])
    register(monkeypatch, imdb.ARCHIVES, path)
    with pytest.raises(DataIntegrityError, match="not a readable"):
        load_imdb_texts("train", imdb_root)


def _link(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, "/etc/passwd"
    return info


@pytest.mark.parametrize("files, special, match", [
    ({"aclImdb/train/pos/../../../evil.txt": "x"}, [], r"'\.\.'"),
    ({"../evil": "x"}, [], r"'\.\.'"),
    ({"/tmp/evil.txt": "x"}, [], "absolute"),
    ({}, [_link("aclImdb/train/pos/5_9.txt", tarfile.SYMTYPE)], "link"),
    ({}, [_link("aclImdb/train/pos/5_9.txt", tarfile.LNKTYPE)], "link"),
    ({}, [_link("aclImdb/dev", tarfile.CHRTYPE)], "device"),
])
def test_unsafe_archive_members_are_refused(tmp_path, monkeypatch, files, special, match):
    root = tmp_path / "data"
    path = write_tar(root / imdb.LABELED.name, {**REVIEWS, **files}, special)
    register(monkeypatch, imdb.ARCHIVES, path)
    with pytest.raises(DataIntegrityError, match=match):
        load_imdb(root, num_words=10, maxlen=4, cache=False)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "evil.txt").exists()


def test_imdb_argument_errors(imdb_root):
    for kwargs in ({"maxlen": 0}, {"num_words": 4}, {"num_words": None}, {"index_from": 0}):
        with pytest.raises(ValueError):
            load_imdb(imdb_root, **kwargs)


def test_errors_are_exported():
    assert issubclass(data.DataNotFoundError, FileNotFoundError)
    assert issubclass(data.DataNotFoundError, data.DataError) and issubclass(data.DataIntegrityError, data.DataError)


# ----------------------------------------------------------------------------- the real files
@pytest.mark.realdata
def test_real_mnist(real_mnist_dir):
    hist = {"train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
            "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]}
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = load_mnist(split, data_dir=real_mnist_dir, download=False)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert torch.bincount(labels, minlength=10).tolist() == hist[split]
        assert images.max() == 255 and images.min() == 0
    x = mnist_sequences(images[:10], "pixel")
    assert x.shape == (10, 784, 1) and 0 <= x.min() and x.max() == 1


@pytest.mark.realdata
@pytest.mark.slow
def test_real_imdb(real_imdb_dir, tmp_path):
    cache = tmp_path / "cache"
    t0 = time.perf_counter()
    d = load_imdb(real_imdb_dir, num_words=20000, maxlen=80, download=False, cache_dir=cache)
    cold = time.perf_counter() - t0
    for split in ("train", "test"):
        x, y = d["x_" + split], d["y_" + split]
        assert x.shape == (25000, 80) and y.shape == (25000,)
        assert int(y.sum()) == 12500 and set(y.tolist()) == {0, 1}
        assert 0 <= int(x.min()) and int(x.max()) < 20000
        assert not (x == 3).any()  # Keras's unused index
    assert len(d["vocab"]) == 19996 and d["vocab"][:3] == ["the", "and", "a"]
    t0 = time.perf_counter()
    warm = load_imdb(real_imdb_dir, num_words=20000, maxlen=80, download=False, cache_dir=cache)
    assert time.perf_counter() - t0 < max(2.0, cold / 5)
    assert torch.equal(warm["x_test"], d["x_test"])
    text, label = load_imdb_texts("test", real_imdb_dir, download=False)[-1]
    expected = pad_sequences([encode(tokenize(text), d["word_index"])], maxlen=80)[0]
    assert label == 1 and torch.equal(d["x_test"][-1], expected)
