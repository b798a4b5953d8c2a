"""Stand-in raw HES (DESIGN §4): seeded, chunked, labelled as simulated everywhere.

Record-level tables shaped exactly like HES APC, OP and A&E (every spec field, exact types,
realistic code domains), with patients having several episodes, planted cross-field
correlations and rare values, so that the scraper, the disclosure control and the privacy
tests have something realistic to work on. Never real patients. Dagster-free.
"""

from artificial_data.simulator.chunks import SIMULATED_METADATA_KEY, simulate_chunks
from artificial_data.simulator.cli import add_simulate_arguments, run_simulate
from artificial_data.simulator.writer import MARKER_FILE, RawPartitionInfo, write_raw_partition

__all__ = [
    "MARKER_FILE",
    "SIMULATED_METADATA_KEY",
    "RawPartitionInfo",
    "add_simulate_arguments",
    "run_simulate",
    "simulate_chunks",
    "write_raw_partition",
]
