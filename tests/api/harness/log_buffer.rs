//! Log lines captured in memory: the writer a test gives a `tracing` subscriber when it reads
//! back what the service logged (the JSON lines of `delivery_logs.rs` and `trace_otlp.rs`).

use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Everything written, shared by every clone (one per event, as `MakeWriter` hands them out).
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// What was written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("the logs are UTF-8")
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}
