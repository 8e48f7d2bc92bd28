//! Benchmark harness support (filled in by the ringload work).
