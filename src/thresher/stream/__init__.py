"""Out-of-core work: datasets too large for one process, processed partition by partition.

* :mod:`thresher.stream.partitions` — partitioned Parquet outputs keyed by ``row_id`` with a
  completion marker per partition (a killed job resumes; a re-run is a no-op);
* :mod:`thresher.stream.scores` — per-row scorers over a :class:`~thresher.data.dataset.FileDataset`,
  locally as a bounded-memory loop or on Ray through Ray Data actors.
"""
