//! Readers of the CDNOW files in `tests/data/cdnow/`, shared by the
//! integration tests (`mod common;`) and the models' unit tests (through a
//! `#[path]` module in `src/analytics/btyd.rs`).

/// The path of the CDNOW data file `name`.
pub fn data_path(name: &str) -> String {
    format!("{}/../tests/data/cdnow/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The rows of the CSV file `name` (header skipped, blank lines ignored),
/// each made from its comma-separated fields by `row`.
pub fn read_csv<T>(name: &str, row: impl Fn(&[&str]) -> T) -> Vec<T> {
    let text = std::fs::read_to_string(data_path(name)).expect("read CDNOW data");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| row(&l.split(',').collect::<Vec<&str>>()))
        .collect()
}
