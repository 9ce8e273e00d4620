"""Datasets and input encodings (image -> complex field)."""

from quaton.data.datasets import DATASETS, DataNotFoundError, ImageDataset, load_dataset, load_npz
from quaton.data.encoding import ENCODINGS, encode, pad_to_grid, resize_images
from quaton.data.idx import IDXFormatError, parse_idx, read_idx

__all__ = [
    "DATASETS",
    "ENCODINGS",
    "DataNotFoundError",
    "IDXFormatError",
    "ImageDataset",
    "encode",
    "load_dataset",
    "load_npz",
    "pad_to_grid",
    "parse_idx",
    "read_idx",
    "resize_images",
]
