"""Datasets: load and validate cases from JSONL, JSON, CSV/TSV, YAML, Parquet or a Python list.

Example:
    >>> from assay.dataset import load_dataset
    >>> ds = load_dataset([{"id": "q1", "input": "What is 2+2?", "expected": "4"}])
    >>> len(ds), ds.cases[0].id
    (1, 'q1')
"""

from assay.dataset.loader import SUPPORTED_EXTENSIONS, Dataset, load_dataset

__all__ = ["SUPPORTED_EXTENSIONS", "Dataset", "load_dataset"]
