"""Sweeps and what is read from them: the sweep spec and its rounds, launching, the run directories
read as one `Run` type, statistics, tables, figures, claims, and the report."""
