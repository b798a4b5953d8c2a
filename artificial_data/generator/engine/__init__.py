"""The artificial HES generator core (DESIGN §8): released metadata in, artificial tables out.

Dagster-free: the generator code location wraps these functions in assets. Nothing here can
reach sensitive data; it reads only the released metadata frame it is given.
"""

from artificial_data.generator.engine.chunk import (
    DEFAULT_CHUNK_ROWS,
    FULL_ROWS,
    SAMPLE_ROWS,
    chunk_bounds,
    generate_chunk,
    generate_chunk_from_plan,
)
from artificial_data.generator.engine.distributions import GenerationPlan, build_plan
from artificial_data.generator.engine.errors import GenerationError
from artificial_data.generator.engine.seeding import generation_seed
from artificial_data.generator.engine.spark_generate import (
    WrittenChunks,
    generate_table,
    write_table_files,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FULL_ROWS",
    "SAMPLE_ROWS",
    "GenerationError",
    "GenerationPlan",
    "WrittenChunks",
    "build_plan",
    "chunk_bounds",
    "generate_chunk",
    "generate_chunk_from_plan",
    "generate_table",
    "generation_seed",
    "write_table_files",
]
