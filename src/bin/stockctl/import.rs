//! `stockctl import source-items`: check a whole CSV file, then write it in idempotent batches.

use std::{
    collections::HashSet,
    fs::File,
    io::{BufReader, Read},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    client::Clients,
    columns::{Header, Mode},
    output::{Output, Table},
    progress,
    row::{Row, RowChecker, RowError},
    write::{AdjustBatch, Reason, Totals, write_adjust, write_set},
};

/// Options of `import source-items`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV file: a header row, then one row per source item.
    file: PathBuf,
    /// Check every row and report the bad ones; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// `set` writes absolute quantities and settings; `adjust` adds signed quantities.
    #[arg(long, value_enum, default_value = "set")]
    mode: Mode,
    /// The adjustment reason kept in the history (`--mode adjust`).
    #[arg(long, value_enum, default_value = "correction")]
    reason: Reason,
    /// A note kept in the history with each adjustment (`--mode adjust`).
    #[arg(long, default_value = "")]
    note: String,
    /// Write the good rows even when some rows are bad (the bad ones are reported).
    #[arg(long)]
    allow_partial: bool,
    /// Source items per call (at most 1000, stockd's limit).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch_size: u16,
}

/// What the first pass over the file found.
struct Checked {
    good_rows: u64,
    errors: Vec<RowError>,
    sha256: String,
}

/// Runs the import; the exit code is 2 when the file has bad rows.
pub(crate) async fn run(args: &ImportArgs, clients: &Clients, out: Output) -> anyhow::Result<u8> {
    let sources = clients
        .source_codes()
        .await
        .context("cannot list stockd's sources")?;
    let header = match read_header(&args.file, args.mode)? {
        Ok(header) => header,
        Err(errors) => {
            out.header_errors(&errors);
            return Ok(2);
        }
    };
    let checked = check_file(&args.file, &header, args.mode, &sources)?;
    report_errors(out, &checked.errors);
    if args.dry_run || (!checked.errors.is_empty() && !args.allow_partial) {
        let summary = dry_summary(&checked, args.dry_run);
        out.summary(&summary);
        return Ok(if checked.errors.is_empty() { 0 } else { 2 });
    }
    let started = Instant::now();
    let totals = write_file(args, clients, &header, &sources, &checked).await?;
    out.summary(&totals.summary(&checked.errors, started.elapsed()));
    Ok(if checked.errors.is_empty() { 0 } else { 2 })
}

fn open(path: &Path) -> anyhow::Result<csv::Reader<HashingReader<BufReader<File>>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(HashingReader::new(BufReader::with_capacity(1 << 16, file))))
}

fn read_header(path: &Path, mode: Mode) -> anyhow::Result<Result<Header, Vec<String>>> {
    let mut reader = open(path)?;
    let raw = reader
        .byte_headers()
        .context("cannot read the header row")?;
    Ok(Header::parse(raw, mode))
}

/// The first pass: every row checked, nothing written, the file's hash taken.
fn check_file(
    path: &Path,
    header: &Header,
    mode: Mode,
    sources: &HashSet<String>,
) -> anyhow::Result<Checked> {
    let mut reader = open(path)?;
    let mut checker = RowChecker {
        header,
        mode,
        sources,
        seen: HashSet::new(),
    };
    let mut checked = Checked {
        good_rows: 0,
        errors: Vec::new(),
        sha256: String::new(),
    };
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .context("cannot read the file")?
    {
        match checker.check(&record) {
            Ok(_) => checked.good_rows += 1,
            Err(errors) => checked.errors.extend(errors),
        }
    }
    checked.sha256 = reader.into_inner().digest();
    Ok(checked)
}

/// The second pass: the good rows, written batch by batch.
async fn write_file(
    args: &ImportArgs,
    clients: &Clients,
    header: &Header,
    sources: &HashSet<String>,
    checked: &Checked,
) -> anyhow::Result<Totals> {
    let mut reader = open(&args.file)?;
    let mut checker = RowChecker {
        header,
        mode: args.mode,
        sources,
        seen: HashSet::new(),
    };
    let bar = progress::bar(checked.good_rows);
    let mut totals = Totals::default();
    let mut batch: Vec<Row> = Vec::with_capacity(usize::from(args.batch_size));
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .context("cannot read the file")?;
        if let (true, Ok(row)) = (more, checker.check(&record)) {
            batch.push(row);
        }
        if batch.len() == usize::from(args.batch_size) || (!more && !batch.is_empty()) {
            let rows = std::mem::take(&mut batch);
            let count = rows.len() as u64;
            write_batch(args, clients, checked, rows, &mut totals).await?;
            bar.inc(count);
        }
        if !more {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(totals)
}

async fn write_batch(
    args: &ImportArgs,
    clients: &Clients,
    checked: &Checked,
    rows: Vec<Row>,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    match args.mode {
        Mode::Set => write_set(clients, rows, totals).await,
        Mode::Adjust => {
            let batch = AdjustBatch {
                key: format!("stockctl:{}:{}", &checked.sha256[..32], totals.batches + 1),
                reason: args.reason,
                note: args.note.clone(),
                rows,
            };
            write_adjust(clients, batch, totals).await
        }
    }
}

fn report_errors(out: Output, errors: &[RowError]) {
    if errors.is_empty() {
        return;
    }
    if out.json {
        let list: Vec<_> = errors.iter().map(RowError::to_json).collect();
        out.json_line(&json!({ "errors": list }));
        return;
    }
    let mut table = Table::new(&["line", "sku", "column", "error"]);
    for e in errors {
        table.row(vec![
            e.line.to_string(),
            e.sku.clone(),
            e.column.clone(),
            e.message.clone(),
        ]);
    }
    table.print();
}

fn dry_summary(checked: &Checked, dry_run: bool) -> serde_json::Value {
    let note = if dry_run {
        "dry run: nothing written"
    } else {
        "bad rows: nothing written (--allow-partial writes the good ones)"
    };
    json!({
        "rows_ok": checked.good_rows,
        "errors": checked.errors.len(),
        "result": note,
    })
}

/// Hashes everything read through it, to name the file's adjustments.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hash: Sha256::new(),
        }
    }

    fn digest(self) -> String {
        self.hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}
