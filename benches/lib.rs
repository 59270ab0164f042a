//! criterion benchmarks of cgw's hot paths; they live in this package's `[[bench]]` targets
//! (`cargo bench -p cgw-benches`). This library is empty.
