"""Pure polars transforms: frame in, frame out; no I/O, no connections, no globals."""
