"""Tables, readers/writers and built-in datasets."""

from thresher.data.datasets import load_dataset, split_table
from thresher.data.io import from_numpy, from_pandas, read_table, write_table
from thresher.data.table import Table

__all__ = ["Table", "from_numpy", "from_pandas", "read_table", "write_table", "load_dataset", "split_table"]
