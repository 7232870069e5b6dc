"""Where the heavy operations run: in this process's memory, on Polars' streaming engine, or
on Spark.

Risk, protect, scan and DP queries see a version as :class:`Rows`: a governed read that
answers a few whole-table questions (group counts, batch-wise transforms, a sample) without
the caller knowing where the rows live. The figures are then computed by the same code
whichever engine produced the counts, so the engines agree by construction.

The engines:

- ``polars`` (default): the rows are decrypted into memory (``FrameRows``), or, for tables
  larger than memory, into a private temporary Parquet file scanned lazily by Polars'
  streaming engine;
- ``spark``: the broker decides and logs the read, then the executors decrypt the version
  with a key released for that job only (``pip install 'privet[spark]'``).
"""

from privet.engine._choose import ENGINES, choose_engine
from privet.engine._open import open_rows
from privet.engine._rows import COUNT, FrameRows, Rows, sample_rows
from privet.engine._spark import SparkRows, spark_errors, spark_rows
from privet.engine._spark_session import SECRET_ENV, require_spark, spark_session, stop_spark
from privet.engine._streaming import LazyRows, streaming_rows, use_streaming

__all__ = ["COUNT", "ENGINES", "FrameRows", "LazyRows", "Rows", "choose_engine", "open_rows"]
__all__ += ["sample_rows", "streaming_rows", "use_streaming"]
__all__ += ["SECRET_ENV", "SparkRows", "require_spark", "spark_errors", "spark_rows"]
__all__ += ["spark_session", "stop_spark"]
