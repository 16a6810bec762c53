//! The sink that appends records to a results file (and attempt rows to a
//! CSV file) from a writer thread of its own.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use super::Record;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The reason is the error's source (printed after it in the chain).
    #[error("cannot open {what} {path}")]
    Open {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write results file {path}: {message}")]
    Write { path: PathBuf, message: String },
}

enum Msg {
    Record(Record),
    Flush(mpsc::Sender<()>),
}

/// Appends records as JSON Lines (and optionally CSV rows of attempts) from a
/// writer thread, flushing whenever its queue is empty.
pub struct RecordSink {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<Result<u64, SinkError>>>,
    path: PathBuf,
    /// Stamped on every record: the simulator scenario that answered.
    simulated: Option<String>,
    /// Records the writer thread is done with, handed back to be dropped by
    /// the threads that write (see [`RecordSink::write`]).
    spent: Spent,
}

type Spent = Arc<Mutex<Vec<Record>>>;

impl RecordSink {
    /// Opens `path` for appending (creating parent directories) and, when
    /// given, `csv_path` for attempt rows (truncated; header written first).
    pub fn open(path: &Path, csv_path: Option<&Path>) -> Result<Self, SinkError> {
        // The CSV first: a CSV path that cannot be opened leaves no empty
        // results file behind.
        let csv = match csv_path {
            Some(p) => {
                let file = open_truncate(p, "CSV file")?;
                Some((csv::Writer::from_writer(file), p.to_path_buf()))
            }
            None => None,
        };
        let jsonl = open_append(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let jsonl_path = path.to_path_buf();
        let spent = Spent::default();
        let writer_spent = Arc::clone(&spent);
        let thread = std::thread::Builder::new()
            .name("rotor-sink".into())
            .spawn(move || write_loop(rx, jsonl, jsonl_path, csv, &writer_spent))
            .map_err(|e| SinkError::Open {
                what: "results file",
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(RecordSink {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_path_buf(),
            simulated: None,
            spent,
        })
    }

    /// Marks every record written from now on as answered by the simulator
    /// running `scenario`.
    pub fn mark_simulated(&mut self, scenario: &str) {
        self.simulated = Some(scenario.to_string());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a record; it reaches the disk within microseconds when the
    /// writer is idle, within a few milliseconds under load.
    ///
    /// Also drops the records the writer thread has finished with since the
    /// last call. A record's strings were allocated by the thread that made
    /// it; freed by the writer thread, each free would take that thread's
    /// malloc arena lock (glibc) and the two threads would contend for it
    /// on every record — 7 % of the client's CPU in futex calls at 30,000
    /// records/s. Freed here, they go back to the thread's own cache.
    pub fn write(&self, record: impl Into<Record>) {
        let mut record = record.into();
        if let Some(scenario) = &self.simulated {
            match &mut record {
                Record::Attempt(a) => a.simulated = Some(scenario.clone()),
                Record::Event(e) => e.simulated = Some(scenario.clone()),
                Record::Request(r) => r.simulated = Some(scenario.clone()),
            }
        }
        let spent = match self.spent.try_lock() {
            Ok(mut s) if !s.is_empty() => std::mem::take(&mut *s),
            _ => Vec::new(),
        };
        if let Some(tx) = &self.tx {
            // The thread only stops on error; close() reports that error.
            let _ = tx.send(Msg::Record(record));
        }
        drop(spent);
    }

    /// Records finished with and not dropped yet (for tests).
    #[cfg(test)]
    pub(crate) fn spent_len(&self) -> usize {
        self.spent.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Blocks until everything queued so far is on disk.
    pub fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = mpsc::channel();
            if tx.send(Msg::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    /// Writes what is queued, stops the thread and returns the number of records.
    pub fn close(mut self) -> Result<u64, SinkError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<u64, SinkError> {
        self.tx.take();
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(SinkError::Write {
                    path: self.path.clone(),
                    message: "writer thread panicked".into(),
                })
            }),
            None => Ok(0),
        }
    }
}

impl Drop for RecordSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn open_append(path: &Path) -> Result<File, SinkError> {
    const WHAT: &str = "results file";
    create_parent(path, WHAT)?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| SinkError::Open {
            what: WHAT,
            path: path.to_path_buf(),
            source,
        })
}

fn open_truncate(path: &Path, what: &'static str) -> Result<File, SinkError> {
    create_parent(path, what)?;
    File::create(path).map_err(|source| SinkError::Open {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn create_parent(path: &Path, what: &'static str) -> Result<(), SinkError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| SinkError::Open {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// How long the writer lets records gather after each batch it wrote: at
/// high rates it then writes and flushes once per batch instead of being
/// woken (a futex wake and a context switch) for every record. A record
/// reaches the disk within about this long.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

fn write_loop(
    rx: mpsc::Receiver<Msg>,
    file: File,
    path: PathBuf,
    mut csv: Option<(csv::Writer<File>, PathBuf)>,
    spent: &Mutex<Vec<Record>>,
) -> Result<u64, SinkError> {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut count = 0u64;
    let err = |path: &Path, e: &dyn std::fmt::Display| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut waiting: Vec<mpsc::Sender<()>> = Vec::new();
    let mut done: Vec<Record> = Vec::new();
    // Block for the first message of a batch, take whatever else is queued,
    // then flush once.
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Record(record) => {
                    serde_json::to_writer(&mut out, &record).map_err(|e| err(&path, &e))?;
                    out.write_all(b"\n").map_err(|e| err(&path, &e))?;
                    if let (Some((w, csv_path)), Record::Attempt(a)) = (csv.as_mut(), &record) {
                        w.serialize(a.as_ref()).map_err(|e| err(csv_path, &e))?;
                    }
                    done.push(record);
                    count += 1;
                }
                Msg::Flush(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        out.flush().map_err(|e| err(&path, &e))?;
        if let Some((w, csv_path)) = csv.as_mut() {
            w.flush().map_err(|e| err(csv_path, &e))?;
        }
        // Handed back, to be dropped by the threads that made them (see
        // `RecordSink::write`); if none writes again they are dropped with
        // the sink.
        if let Ok(mut s) = spent.lock() {
            s.append(&mut done);
        }
        done.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        std::thread::sleep(GATHER);
    }
    Ok(count)
}
